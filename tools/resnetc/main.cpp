// resnetc: compile a residual network description, report on it, and train it.
#include <fmt/format.h>

#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "compiler/ir/compile_error.h"
#include "dsl/diagnostics.h"
#include "dsl/frontend.h"
#include "runtime/checkpoint/error.h"
#include "runtime/data/idx.h"
#include "runtime/host/signals.h"
#include "train/trainer.h"
#include "tools/resnetc/commands.h"
#include "tools/resnetc/data_parallel_job.h"

namespace {

using namespace resnetc;

int run(const cli::Options& o, dsl::SourceManager& sources) {
  if ((o.help || o.version || o.prelude || o.list_passes) && !cli::prints_job_free_output()) return 0;
  if (o.help) return fmt::print("{}", cli::usage(o.help_for)), 0;
  if (o.version) return fmt::print("resnetc {}\n", RESNETC_VERSION), 0;
  if (o.prelude) return fmt::print("{}", dsl::prelude_text()), 0;
  if (o.list_passes) return fmt::print("passes, in pipeline order (-O2 is the default):\n{}", cli::list_passes()), 0;
  switch (o.command) {
    case cli::Command::Compile: return cli::run_compile(o, sources);
    case cli::Command::Train: return cli::run_train(o, sources);
    case cli::Command::Eval: return cli::run_eval(o, sources);
    case cli::Command::Predict: return cli::run_predict(o, sources);
    case cli::Command::Bench: return cli::run_bench(o, sources);
    case cli::Command::Plot: return cli::run_plot(o);
    case cli::Command::Export: return cli::run_export(o, sources);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) then fails the write with EFBIG, which names the file,
  // instead of killing the process with SIGXFSZ.
  host::ignore_file_size_signal();
  cli::Options options;
  try {
    options = cli::parse_options(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const cli::UsageError& e) {
    cli::print_usage_error(fmt::format("resnetc: error: {}\nTry 'resnetc {}--help' for more information.\n", e.what(),
                                       e.command().empty() ? "" : e.command() + " "));
    return 2;
  }
  // Every failure the user can act on is one clear message and exit status 1.
  dsl::SourceManager sources;
  try {
    const int status = run(options, sources);
    cli::leave_job();
    return status;
  } catch (const ir::CompileError& e) {
    if (e.phase == ir::CompileError::Phase::Verify) {  // of a graph the compiler built: our bug
      cli::print_error(fmt::format("{}: internal error: {}\n", options.model, e.what()), 70);
      return 70;
    }
    cli::print_error(dsl::render(e.diagnostic, sources));
  } catch (const resnetc::data::DataError& e) {
    cli::print_error(fmt::format("resnetc: data error: {}\n", e.what()));
  } catch (const checkpoint::CheckpointError& e) {
    cli::print_error(fmt::format("resnetc: checkpoint error: {}\n", e.what()));
  } catch (const train::TrainingError& e) {
    cli::print_error(fmt::format("\nresnetc: training stopped: {}\n", e.what()));
  } catch (const std::bad_alloc&) {
    // The large allocations name themselves (host::OutOfMemory); this is any other.
    cli::print_error("resnetc: error: out of memory; try a smaller --batch\n");
  } catch (const std::exception& e) {
    cli::print_error(fmt::format("resnetc: error: {}\n", e.what()));
  }
  return 1;
}
