# Every dependency comes from a Debian package (scripts/setup-deps.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(fmt REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(LibArchive REQUIRED)
find_package(CURL 7.80 REQUIRED)
# siblings parses every pod of the cluster, page by page: a SIMD parser (~3 GB/s, no DOM) keeps
# that well under the transfer time; nlohmann's DOM would triple it (scripts/bench/siblings.sh).
find_package(simdjson 3 REQUIRED)
# custody reads S3's and STS's XML answers (error documents, upload ids, part lists, credentials).
find_package(EXPAT REQUIRED)
if(IR_BUILD_TESTS)
  find_package(doctest REQUIRED)
endif()

# The exec engine relies on CONNECT_ONLY + curl_easy_send/recv and in-memory certificates
# (CURLOPT_*_BLOB, 7.71+), and on an OpenSSL-flavoured libcurl (blobs are not supported by GnuTLS
# builds of 7.88).
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_LIBRARIES CURL::libcurl)
check_cxx_source_compiles([[
#include <curl/curl.h>
int main() {
  CURL* c = curl_easy_init();
  struct curl_blob b = {nullptr, 0, CURL_BLOB_COPY};
  curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
  curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
  return 0;
}]] IR_CURL_HAS_BLOBS)
unset(CMAKE_REQUIRED_LIBRARIES)
if(NOT IR_CURL_HAS_BLOBS)
  message(FATAL_ERROR "libcurl lacks CURLOPT_*_BLOB / CONNECT_ONLY: install libcurl4-openssl-dev (scripts/setup-deps.sh)")
endif()
execute_process(COMMAND curl-config --ssl-backends OUTPUT_VARIABLE IR_CURL_SSL OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(IR_CURL_SSL AND NOT IR_CURL_SSL MATCHES "OpenSSL")
  message(FATAL_ERROR "libcurl is built with '${IR_CURL_SSL}', kubectl-ir needs the OpenSSL flavour (libcurl4-openssl-dev)")
endif()
