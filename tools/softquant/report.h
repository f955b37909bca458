// Why this exists: `softquant sweep` turns its results.json into DIR/report.md (tables),
// DIR/report.html (the same tables plus inline SVG charts drawn from the very same numbers; no
// scripts, nothing fetched) and a plain-text summary for the terminal. Everything is derived from
// results.json alone, so a re-run that evaluates nothing rewrites an identical report.
#pragma once

#include <string>

#include "runtime/core/json.h"

namespace sq::cli {

// Writes DIR/report.md and DIR/report.html (atomically) from results.json's content.
void write_sweep_reports(const Json& results, const std::string& dir);

// Metric vs softmax bits, one table per (weight bits, act bits, grid[, output]), as plain text.
std::string sweep_text_summary(const Json& results);

}  // namespace sq::cli
