#include <doctest/doctest.h>

#include "custody/xml.hpp"

using namespace ir;
using namespace ir::custody;

TEST_CASE("parse_xml: elements, text and namespaces") {
  auto doc = parse_xml(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><UploadId>abc</UploadId>
<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part><Part><PartNumber>2</PartNumber></Part>
<s3:IsTruncated xmlns:s3="x">false</s3:IsTruncated></ListPartsResult>)");
  REQUIRE(doc);
  CHECK(doc->name == "ListPartsResult");
  CHECK(doc->child_text("UploadId") == "abc");
  CHECK(doc->child_text("IsTruncated") == "false");
  const auto parts = doc->children_named("Part");
  REQUIRE(parts.size() == 2);
  CHECK(parts[0]->child_text("ETag") == "\"e1\"");
  CHECK(parts[1]->child_text("ETag").empty());
  CHECK(doc->child("Nope") == nullptr);
}

TEST_CASE("parse_xml refuses DOCTYPEs, bad XML and deep nesting") {
  auto entity = parse_xml(R"(<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>)");
  REQUIRE_FALSE(entity);
  CHECK(entity.error().code == Errc::protocol);
  CHECK(entity.error().message.find("DOCTYPE") != std::string::npos);
  CHECK_FALSE(parse_xml("<a><b></a>"));
  CHECK_FALSE(parse_xml(""));
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "<a>";
  for (int i = 0; i < 40; ++i) deep += "</a>";
  auto d = parse_xml(deep);
  REQUIRE_FALSE(d);
  CHECK(d.error().message.find("nested deeper") != std::string::npos);
}

TEST_CASE("xml_escape") {
  CHECK(xml_escape(R"(<a href="x">&'</a>)") == "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
}

TEST_CASE("parse_xml: white space before the declaration (S3's keep-alive while completing an upload)") {
  auto doc = parse_xml(
      "\n  \n<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult><ETag>\"e-3\"</ETag>"
      "</CompleteMultipartUploadResult>");
  REQUIRE(doc);
  CHECK(doc->child_text("ETag") == "\"e-3\"");
}
