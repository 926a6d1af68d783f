# Included by cmake/EmbedAssets.cmake and cmake/EmbedFiles.cmake (run with -P).
# ir_embed_bytes(<path> <bytes_var> <size_var>): sets <bytes_var> to the file's exact bytes as the
# body of a C++ unsigned char array ("0x2f,0x2a,...", 24 a line, ending in 0x00 so an empty file
# still makes an array) and <size_var> to the file's size. Byte arrays rather than string
# literals: any content is safe, with no escaping and no literal-length limit.
function(ir_embed_bytes path bytes_var size_var)
  string(REPEAT "0x[0-9a-f][0-9a-f]," 24 line_of_bytes)  # CMake regexes have no {n}
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(${line_of_bytes})" "\\1\n    " bytes "${bytes}")
  set(${bytes_var} "${bytes}0x00" PARENT_SCOPE)
  set(${size_var} "${size}" PARENT_SCOPE)
endfunction()
