#pragma once
// The subcommands of `resnetc`; each returns the process exit status.
#include <string>
#include <vector>

#include "dsl/source.h"
#include "tools/resnetc/options.h"

namespace resnetc::cli {

// `sources` collects the files read, so the caller can quote them in a CompileError.
int run_compile(const Options& o, dsl::SourceManager& sources);  // the layer table and --emit
int run_train(const Options& o, dsl::SourceManager& sources);
int run_eval(const Options& o, dsl::SourceManager& sources);
int run_predict(const Options& o, dsl::SourceManager& sources);
int run_bench(const Options& o, dsl::SourceManager& sources);
int run_input_bench(const Options& o, dsl::SourceManager& sources);  // bench --data: the input pipeline

// What --skip-bad-images left out: how many files, and the first few ("FILE: why").
void print_skipped(const std::vector<std::string>& skipped);
int run_plot(const Options& o);
int run_export(const Options& o, dsl::SourceManager& sources);  // the network as an ONNX model

}  // namespace resnetc::cli
