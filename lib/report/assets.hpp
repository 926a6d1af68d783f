#pragma once
// The report page's inline style sheet and script (lib/report/assets/report.{css,js}), embedded at
// build time by cmake/EmbedAssets.cmake. The page's Content-Security-Policy allows exactly these
// bytes, by their SHA-256.

#include <string_view>

namespace ir::report::assets {

// The exact bytes of assets/report.css; static storage, never fails.
std::string_view report_css();
// The exact bytes of assets/report.js; static storage, never fails.
std::string_view report_js();

}  // namespace ir::report::assets
