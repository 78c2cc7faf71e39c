#include "tools/resnetc/command_line.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <utility>

#include "compiler/passes/pass.h"
#include "dsl/diagnostics.h"
#include "runtime/data/normalize.h"
#include "tools/resnetc/help_formatter.h"

namespace resnetc::cli {
namespace {

// --- Values: each check names its option and says what it expects (CLI11's messages do not).

int64_t whole(std::string_view option, std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    throw UsageError(fmt::format("{} expects a whole number from {} to {}, got '{}'", option, min, max, text));
  return v;
}

double number(std::string_view option, const std::string& text, double min, double below) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < min || v >= below)
    throw UsageError(fmt::format("{} expects a number in [{}, {}), got '{}'", option, min, below, text));
  return v;
}

// "0.4914,0.4822,0.4465" (--mean, --std): float32 values, each above 0 when `positive`.
std::vector<float> number_list(std::string_view option, const std::string& text, bool positive) {
  if (std::optional<std::vector<float>> values = data::parse_values(text, positive)) return *values;
  throw UsageError(fmt::format("{} expects {}numbers separated by commas (one a channel, or one for all), got '{}'",
                               option, positive ? "positive " : "", text));
}

// Above 0 and below 1 (or at most 1 when `one_allowed`): factors where 0 means nothing sensible.
double fraction_above_zero(std::string_view option, const std::string& text, bool one_allowed) {
  const double v = number(option, text, 0, 2);
  if (!(v > 0 && (v < 1 || (one_allowed && v == 1))))
    throw UsageError(fmt::format("{} expects a number above 0 and {} 1, got '{}'", option,
                                 one_allowed ? "at most" : "below", text));
  return v;
}

std::array<int64_t, 3> chw(std::string_view text) {
  std::array<int64_t, 3> dims{};
  size_t start = 0;
  for (size_t i = 0; i < 3; ++i) {
    size_t x = i < 2 ? text.find('x', start) : text.size();
    if (x == std::string_view::npos || (i == 2 && text.find('x', start) != std::string_view::npos))
      throw UsageError(fmt::format("--input expects CxHxW, like 1x96x96, got '{}'", text));
    dims[i] = whole("--input", text.substr(start, x - start), 1, int64_t{1} << 30);
    start = x + 1;
  }
  return dims;
}

// "a, b or c"
std::string alternatives(const std::vector<std::string_view>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += fmt::format("{}{}", i == 0 ? "" : i + 1 == names.size() ? " or " : ", ", names[i]);
  return out;
}

template <class T>
T choice(std::string_view option, const std::string& text, const std::vector<std::pair<std::string_view, T>>& choices) {
  std::vector<std::string_view> names;
  for (const auto& [name, value] : choices) {
    if (name == text) return value;
    names.push_back(name);
  }
  throw UsageError(fmt::format("{} expects {}, got '{}'", option, alternatives(names), text));
}

std::vector<std::string_view> pass_names() {
  std::vector<std::string_view> names;
  for (const passes::Pass& p : passes::all_passes()) names.push_back(p.name);
  return names;
}

plan::Precision precision_choice(const std::string& text) {
  return choice<plan::Precision>(
      "--precision", text, {{"fp32", plan::Precision::Fp32}, {"tf32", plan::Precision::Tf32}, {"bf16", plan::Precision::Bf16}});
}

// --- Options, declared group by group: --help lists each under its group's heading.

struct Group {
  CLI::App& app;
  std::string name;

  // A value, checked and stored by `set` as soon as it is read: the first bad value on the command
  // line is the one reported, and a repeated option keeps its last value (--print-after: all).
  void value(const std::string& option, const std::string& type, const std::string& help,
             std::function<void(const std::string&)> set) const {
    app.add_option_function<std::string>(option, std::move(set), help)
        ->type_name(type)
        ->trigger_on_parse()
        ->group(name);
  }
  void flag(const std::string& option, bool& target, const std::string& help) const {
    app.add_flag(option, target, help)->group(name);
  }
};

void add_output(const Group& g, Options& o) {
  g.value("--emit", "WHAT",
          "what to print: table (the default), ir (the graph IR as text), dot (a Graphviz drawing of the network as "
          "written, stem, stages and blocks as nested boxes, shapes on the edges: resnetc m.net --emit=dot | dot "
          "-Tsvg > m.svg; with an -O level given, the graph after its passes), plan (the kernels, their buffers and "
          "memory; ends with \"kernels: N, bytes moved: B, peak buffer memory: M, unplanned: U\", U the memory "
          "without buffer reuse), llvm (the kernels as "
          "optimized LLVM IR for this CPU), cuda (the kernels as one CUDA C++ translation unit for sm_90, which NVRTC "
          "and nvcc accept)",
          [&o](const std::string& v) {
            o.emit = choice<Emit>("--emit", v, {{"table", Emit::Table}, {"ir", Emit::Ir}, {"dot", Emit::Dot},
                                                {"plan", Emit::Plan}, {"llvm", Emit::Llvm}, {"cuda", Emit::Cuda}});
          });
  g.value("--format", "FMT",
          "the table as text (the default) or json: one object with network, input, layers [{name, op, shape, params, "
          "macs}], total_params, trainable_params, total_macs, param_bytes, activation_bytes",
          [&o](const std::string& v) {
            o.format = choice<Format>("--format", v, {{"text", Format::Text}, {"json", Format::Json}});
          });
  g.value("--depth", "N",
          "fold the table's layers (and --emit=dot's nodes) into their first N name components (1: stem, stages, "
          "head; 2: blocks); default: every layer",
          [&o](const std::string& v) { o.depth = static_cast<int>(whole("--depth", v, 1, 100)); });
  g.flag("--train", o.train,
         "with --emit=ir, dot, plan, llvm or cuda: one training step (forward with batch statistics, loss, backward, "
         "the optimizer's updates) with the recipe of the file's train section: its optimizer, momentum, weight "
         "decay, label smoothing, ...");
  g.value("--precision", "P",
          "with --emit=plan or cuda: the convolutions' and fully connected layers' arithmetic the plan marks and "
          "the CUDA kernels run, fp32, tf32 or bf16 (docs/precision.md); default: fp32 for --emit=plan (the "
          "CPU's), tf32 for --emit=cuda (a GPU's)",
          [&o](const std::string& v) { o.precision = precision_choice(v); });
}

void add_network(const Group& g, Options& o, const std::string& batch_default) {
  g.value("--input", "CxHxW", "input size, replacing the file's `input` line",
          [&o](const std::string& v) { o.input = chw(v); });
  g.value("--batch", "N", "batch size (default: " + batch_default + ")",
          [&o](const std::string& v) { o.batch = whole("--batch", v, 1, int64_t{1} << 20); });
}

void add_update(const Group& g, Options& o) {
  g.value("--lr", "X", "learning rate (default 0.05)",
          [&o](const std::string& v) { o.lr = number("--lr", v, 1e-12, 1e6); });
  g.value("--momentum", "X", "SGD momentum, at least 0 and below 1 (default 0)",
          [&o](const std::string& v) { o.momentum = number("--momentum", v, 0, 1); });
  g.value("--weight-decay", "X", "L2 weight decay, at least 0 and below 1 (default 0)",
          [&o](const std::string& v) { o.weight_decay = number("--weight-decay", v, 0, 1); });
}

// The recipes beyond the book's plain SGD (docs/training.md, "Recipes").
void add_modern_recipe(const Group& g, Options& o) {
  g.value("--optimizer", "O",
          "sgd (the default: torch.optim.SGD) or adamw (torch.optim.AdamW: decoupled weight decay, its moments and "
          "step count kept in the checkpoint)",
          [&o](const std::string& v) {
            o.optimizer = choice<std::string>("--optimizer", v, {{"sgd", "sgd"}, {"adamw", "adamw"}});
          });
  g.app.add_flag_callback("--nesterov", [&o] { o.nesterov = true; },
                          "SGD with Nesterov momentum (needs --momentum above 0), as SGD(nesterov=True)")
      ->group(g.name);
  g.value("--beta1", "X", "AdamW's first-moment decay, above 0 and below 1 (default 0.9)",
          [&o](const std::string& v) { o.beta1 = fraction_above_zero("--beta1", v, false); });
  g.value("--beta2", "X", "AdamW's second-moment decay, above 0 and below 1 (default 0.999)",
          [&o](const std::string& v) { o.beta2 = fraction_above_zero("--beta2", v, false); });
  g.value("--eps", "X", "AdamW's eps, added to the denominator's square root, above 0 and below 1 (default 1e-08)",
          [&o](const std::string& v) { o.eps = fraction_above_zero("--eps", v, false); });
  g.value("--warmup-epochs", "N",
          "epochs of linear warmup before the schedule: the lr ramps every step from lr * --warmup-start toward lr, "
          "then the schedule runs over the remaining epochs (LinearLR then the schedule in SequentialLR; default 0)",
          [&o](const std::string& v) { o.warmup_epochs = whole("--warmup-epochs", v, 0, 100000); });
  g.value("--warmup-start", "F", "the warmup's first factor of the lr, above 0 and at most 1 (default 1/3, LinearLR's)",
          [&o](const std::string& v) { o.warmup_start = fraction_above_zero("--warmup-start", v, true); });
  g.value("--label-smoothing", "E",
          "the loss's target is (1 - E) one-hot + E / classes, as CrossEntropyLoss(label_smoothing=E); at least 0 and "
          "below 1 (default 0)",
          [&o](const std::string& v) { o.label_smoothing = number("--label-smoothing", v, 0, 1); });
  g.app.add_flag_callback("--no-decay-bn-bias", [&o] { o.decay_bn_bias = false; },
                          "no weight decay on one-dimensional parameters: BatchNorm's weight and bias, and biases")
      ->group(g.name);
}

void add_data(const Group& g, Options& o) {
  g.value("--dataset", "NAME",
          "the data set, replacing the file's train section's: fashion-mnist (the default), mnist (IDX files), "
          "cifar10, cifar100 (its 100 fine labels) or cifar100-coarse (its 20 superclasses), the binary versions, or "
          "folder (PNG and JPEG images in DIR/train/CLASS/ and DIR/val/CLASS/)",
          [&o](const std::string& v) {
            o.dataset = choice<std::string>("--dataset", v,
                                            {{"fashion-mnist", "fashion-mnist"},
                                             {"mnist", "mnist"},
                                             {"cifar10", "cifar10"},
                                             {"cifar100", "cifar100"},
                                             {"cifar100-coarse", "cifar100-coarse"},
                                             {"folder", "folder"}});
          });
  g.value("--data", "DIR",
          "where the data set's files are (default: the path in the train section's `dataset NAME \"PATH\"`, else "
          "/usr/share/datasets/fashion-mnist, from the Debian package dataset-fashion-mnist, or "
          "/usr/share/datasets/mnist; CIFAR and folder have no default: for CIFAR the directory its archive unpacks to)",
          [&o](const std::string& v) { o.data_dir = v; });
  g.flag("--skip-bad-images", o.skip_bad_images,
         "folder: leave out the files below a class folder that are not readable images (other files, other formats, "
         "corrupt or truncated images) and print how many; without it the first stops the run, naming it");
  g.value("--image-cache", "WHERE",
          "folder: where its decoded images are kept: auto (the default: in memory when they fit in the memory "
          "available, else in a file), memory (refused when they do not fit) or disk (a file, paged in as batches "
          "need it); the batches are the same (docs/data.md)",
          [&o](const std::string& v) {
            o.image_cache.mode = choice<data::ImageCacheMode>(
                "--image-cache", v,
                {{"auto", data::ImageCacheMode::Auto}, {"memory", data::ImageCacheMode::Memory},
                 {"disk", data::ImageCacheMode::Disk}});
          });
  g.value("--image-cache-dir", "DIR",
          "folder: the directory of the decoded images' file, when they are kept in one (default: $TMPDIR, else "
          "/tmp); the file is deleted as it is made, so nothing is left there",
          [&o](const std::string& v) { o.image_cache.dir = v; });
}

// `parse` reads the value (data/augment_spec.h); its complaint is reported naming the option.
template <class Parse>
auto augmentation_value(std::string_view option, const std::string& text, Parse parse) {
  try {
    return parse(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("{}: {}", option, e.what()));
  }
}

void add_augmentation(const Group& g, Options& o) {
  g.value("--random-crop", "SIZE[,padding=P]",
          "augment: each training image padded with P zero pixels a side (default 0), then a random SIZE crop of it "
          "(N or HxW), as torchvision's RandomCrop(SIZE, padding=P); the CIFAR recipe is --random-crop 32,padding=4. "
          "A crop of another size than the input is then resized to it",
          [&o](const std::string& v) {
            o.augmentation.random_crop = augmentation_value("--random-crop", v, data::parse_random_crop);
          });
  g.value("--random-resized-crop", "SIZE[,scale=A:B][,ratio=C:D]",
          "augment: a random part of each training image, of A to B of its area (default 0.08:1) and aspect ratio "
          "C to D (default 0.75:1.3333), resized to SIZE, the network's input, as torchvision's "
          "RandomResizedCrop(SIZE, scale=(A, B), ratio=(C, D))",
          [&o](const std::string& v) {
            o.augmentation.random_resized_crop =
                augmentation_value("--random-resized-crop", v, data::parse_random_resized_crop);
          });
  g.value("--center-crop", "SIZE",
          "the center SIZE (N or HxW) of each image, as torchvision's CenterCrop(SIZE), resized to the input if it "
          "differs: evaluation's view (and training's, without a random crop); eval and predict use it too",
          [&o](const std::string& v) {
            o.augmentation.center_crop = augmentation_value("--center-crop", v, data::parse_crop_size);
          });
  g.app.add_flag_callback("--flip", [&o] { o.augmentation.flip = true; },
                          "augment: mirror each training image left to right with probability 1/2, as torchvision's "
                          "RandomHorizontalFlip(). Every augmentation draws from (--seed, epoch, image) alone, so "
                          "--resume and the GPU give the same batches; kept in the checkpoint (docs/data.md)")
      ->group(g.name);
}

void add_data_parallel(const Group& g, Options& o) {
  g.flag("--sync-bn", o.sync_bn,
         "with several processes: BatchNorm normalizes with the statistics of the whole global batch (one small "
         "all-reduce per BatchNorm forward and backward) instead of each process's own");
  g.value("--bucket-mb", "MB",
          "with several processes: the gradients are all-reduced in buckets of about MB MiB (default 25, PyTorch "
          "DDP's), each as soon as the backward pass has finished it",
          [&o](const std::string& v) { o.bucket_mb = number("--bucket-mb", v, 1e-6, 1e6); });
}

void add_no_progress(const Group& g, Options& o) {
  g.app.add_flag_callback("--no-progress", [&o] { o.progress = false; },
                          "no live progress line (it is drawn only on a terminal)")->group(g.name);
}

void add_device(const Group& g, Options& o) {
  g.value("--device", "D", "auto (the default: an NVIDIA GPU when one is there, else the CPU), cpu or cuda",
          [&o](const std::string& v) {
            o.device =
                choice<Device>("--device", v, {{"auto", Device::Auto}, {"cpu", Device::Cpu}, {"cuda", Device::Cuda}});
          });
  g.value("--threads", "N", "CPU threads (default: every core)",
          [&o](const std::string& v) { o.threads = static_cast<int>(whole("--threads", v, 1, 1024)); });
  g.value("--precision", "P",
          "the convolutions' and fully connected layers' arithmetic: fp32 (float32, no tensor cores), tf32 (TF32 "
          "tensor cores for the convolutions, float32 fully connected layers; GPU only) or bf16 (bfloat16 operands, "
          "float32 accumulation; GPU tensor cores, or CPUs with avx512_bf16); replaces the train section's; default: "
          "tf32 on a GPU, fp32 on the CPU (docs/precision.md)",
          [&o](const std::string& v) { o.precision = precision_choice(v); });
  g.value("--cache-dir", "DIR",
          "where compiled kernels are kept, the CPU's in DIR/cpu, the GPU's in DIR (default "
          "$XDG_CACHE_HOME/resnetc or ~/.cache/resnetc); a second run of a model compiles in about a second",
          [&o](const std::string& v) { o.cache_dir = v; });
}

// `printing`: also --print-after, --print-after-all and --verify-each.
void add_optimization(const Group& g, Options& o, bool printing) {
  // CLI11 reads -O2 as the short option -O with the value 2.
  g.value("-O", "",
          "-O0: one kernel per op, no memory reuse; -O1: common subexpressions and dead code removed, BatchNorm "
          "folded into convolutions for inference, buffers reused by liveness; -O2 (the default): also BatchNorm's "
          "backward in two kernels, elementwise chains fused (BatchNorm + add + relu in one kernel), all parameters "
          "updated in one kernel",
          [&o](const std::string& v) {
            if (v != "0" && v != "1" && v != "2")
              throw UsageError(fmt::format(
                  "there is no optimization level '-O{}': use -O0 (one kernel per operation), -O1 (common "
                  "subexpressions, dead code, inference BatchNorm folding, memory reuse) or -O2 (all passes, the "
                  "default)", v));
            o.opt_level = v[0] - '0';
            o.opt_level_given = true;
          });
  if (!printing) return;
  g.value("--print-after", "PASS",
          "print the IR to stderr after PASS (repeatable; resnetc --list-passes lists the passes)",
          [&o](const std::string& v) {
            if (passes::find_pass(v) == nullptr)
              throw UsageError(fmt::format("--print-after: there is no pass '{}'{} (passes: {})", v,
                                           dsl::did_you_mean(v, pass_names()), fmt::join(pass_names(), ", ")));
            o.print_after.push_back(v);
          });
  g.flag("--print-after-all", o.print_after_all, "print the IR to stderr after every pass");
  g.flag("--verify-each", o.verify_each, "run the IR verifier after every pass");
}

// CLI11 adds -h, --help first; made again last, it is listed after the command's own options.
void add_help(CLI::App& app, const std::string& group) {
  app.set_help_flag("-h,--help", "print this help and exit")->group(group);
}

// Every command but help: MODEL.net, its options, then --help.
void add_model(CLI::App& app, Options& o) { app.add_option("MODEL.net", o.model, "the network, a .net file (compile also reads a .ir file: what --emit=ir prints)"); }

void add_compile(CLI::App& app, Options& o) {
  add_model(app, o);
  add_output({app, "output"}, o);
  add_network({app, "network"}, o, "1");
  add_optimization({app, "optimization"}, o, true);
  const Group parallel{app, "data-parallel"};
  parallel.flag("--collectives", o.collectives,
                "with --emit=plan --train: after the plan, the all-reduces of data-parallel training and the kernel "
                "before which each runs (--bucket-mb, --sync-bn)");
  add_data_parallel(parallel, o);
  add_help(app, "other");
  app.footer("The table has one row per layer with its output shape [N, C, H, W], parameters and MACs "
             "(multiply-accumulates of convolutions and fully connected layers), then the totals, the parameter "
             "memory and the activation memory of a training step at the batch size.\n\n"
             "'resnetc MODEL.net' (no command) is 'resnetc compile MODEL.net'. The language is described in "
             "docs/language.md.");
}

void add_train(CLI::App& app, Options& o) {
  add_model(app, o);
  const Group recipe{app, "recipe (each replaces the file's `train` section; the defaults are the book's)"};
  recipe.value("--epochs", "N", "epochs to train (default 10)",
               [&o](const std::string& v) { o.epochs = whole("--epochs", v, 1, 100000); });
  add_update(recipe, o);
  recipe.value("--schedule", "S",
               "the learning rate over the run: constant (the default), cosine, or step (x0.1 at 50% and 75% of it)",
               [&o](const std::string& v) {
                 o.schedule = choice<std::string>("--schedule", v,
                                                  {{"constant", "constant"}, {"cosine", "cosine"}, {"step", "step"}});
               });
  recipe.value("--seed", "N", "the seed of the initial weights and of the data order (default 0)",
               [&o](const std::string& v) { o.seed = whole("--seed", v, 0, INT64_MAX); });
  add_modern_recipe(recipe, o);
  add_network({app, "network"}, o, "the recipe's, 256");

  const Group run{app, "the run"};
  add_data(run, o);
  run.value("--val-split", "F",
            "evaluate on a validation set instead of the test set: the fraction F (above 0, below 1) of the training "
            "images, drawn from --seed, kept out of training; the epoch lines then say \"val acc\"",
            [&o](const std::string& v) {
              const double f = number("--val-split", v, 0, 1);
              if (f <= 0) throw UsageError(fmt::format("--val-split expects a fraction above 0 and below 1, got '{}'", v));
              o.val_split = f;
            });
  run.value("--mean", "M[,M...]",
            "normalize the pixels as torchvision's Normalize after ToTensor: (pixel/255 - mean) / std per channel; "
            "one value a channel, or one for all; needs --std; kept in the checkpoint for eval, predict and --resume "
            "(docs/data.md); with --std or --normalize, replaces the train section's mean and std or normalize auto",
            [&o](const std::string& v) { o.mean = number_list("--mean", v, false); });
  run.value("--std", "S[,S...]", "the normalization's standard deviations, each above 0 (with --mean)",
            [&o](const std::string& v) { o.std_dev = number_list("--std", v, true); });
  run.flag("--normalize", o.normalize,
           "normalize by the training set's per-channel mean and (population) standard deviation, computed from the "
           "images as the network sees them (resized, /255) before training; printed and kept in the checkpoint");
  add_augmentation(run, o);
  run.value("--image-size", "N|HxW",
            "folder: the size its images are kept at in memory, each resized once as it is read, as torchvision's "
            "Resize(N) then CenterCrop(N) (the shorter side to N, then the center NxN: any aspect ratio) or "
            "Resize((H, W)) (exactly); the crops above are taken from it (default: the network's input, HxW); kept "
            "in the checkpoint for eval, predict and --resume",
            [&o](const std::string& v) { o.image_size = augmentation_value("--image-size", v, data::parse_image_size); });
  run.value("--checkpoint", "FILE",
            "written after every epoch, atomically (default: the network's name + .safetensors)",
            [&o](const std::string& v) {
              if (v.empty()) throw UsageError("--checkpoint needs a file name (it is empty)");
              o.checkpoint = v;
            });
  run.flag("--resume", o.resume,
           "continue the run in --checkpoint: weights, optimizer state, epoch and data order, to the same result as a "
           "run that was never stopped, with the recipe the checkpoint records (not the train section's); a flag "
           "that differs from it is refused unless --allow-recipe-change");
  run.flag("--allow-recipe-change", o.allow_recipe_change,
           "with --resume: let flags change the resumed run's recipe (epochs, lr, schedule, ...)");
  run.value("--init", "FILE",
            "start a new run from the weights in FILE (a checkpoint, or a PyTorch state dict saved as safetensors, "
            "read by torchvision's ResNet names): every tensor whose name and shape match",
            [&o](const std::string& v) {
              if (v.empty()) throw UsageError("--init needs a file name (it is empty)");
              o.init = v;
            });
  run.flag("--reset-head", o.reset_head,
           "with --init: initialize the classifier (the last layer with weights) instead of reading it, to fine-tune "
           "for other classes");
  run.value("--max-steps", "N", "stop after N training steps, leaving a checkpoint that --resume continues",
            [&o](const std::string& v) { o.max_steps = whole("--max-steps", v, 1, INT64_MAX); });
  run.value("--nproc", "N",
            "train data-parallel as N processes on this machine, started by OpenMPI's mpirun (--batch stays the "
            "global batch; docs/distributed.md)",
            [&o](const std::string& v) { o.nproc = whole("--nproc", v, 1, 1024); });
  run.value("--collective-timeout", "S",
            "of an MPI job (--nproc or mpirun): end it, naming the rank, when a rank has not reached the step the "
            "others wait in, or has not been heard from, for S seconds (default 60; 0: wait forever)",
            [&o](const std::string& v) { o.collective_timeout = number("--collective-timeout", v, 0, 1e6); });
  add_data_parallel(run, o);
  run.value("--log", "FILE", "every epoch as CSV (.csv) or JSON lines (other names)",
            [&o](const std::string& v) { o.log = v; });
  run.flag("--overwrite-log", o.overwrite_log, "start --log afresh instead of adding this run to it");
  run.value("--plot", "FILE",
            "after every epoch, redraw this run's figure from --log (loss, train and test accuracy against epoch) as "
            "SVG, or PNG for a .png name; keep it open in a browser to watch the run",
            [&o](const std::string& v) {
              if (v.empty()) throw UsageError("--plot needs a file name (it is empty)");
              o.plot = v;
            });
  add_no_progress(run, o);
  add_device({app, "device"}, o);
  add_optimization({app, "optimization"}, o, true);
  add_help(app, "other");
  app.footer("The book's recipe (Dive into Deep Learning, \"Residual Networks\"): 10 epochs, batch 256, lr 0.05, "
             "plain SGD, a constant rate. Training prints one line per epoch and ends with the loss, train and test "
             "accuracy and examples/sec. Ctrl-C or SIGTERM stops after the step in progress and saves a checkpoint that "
             "--resume continues exactly (exit status 130 or 143); a second Ctrl-C stops at once. What is written, "
             "and how it is kept safe: docs/training.md. The data sets and their files: docs/data.md.");
}

void add_eval(CLI::App& app, Options& o) {
  add_model(app, o);
  const Group evaluation{app, "evaluation"};
  evaluation.value("--weights", "FILE", "the checkpoint to test, written by resnetc train (required)",
                   [&o](const std::string& v) { o.weights = v; });
  add_data(evaluation, o);
  evaluation.value("--limit", "N", "test the first N test images only (default: all of them)",
                   [&o](const std::string& v) { o.limit = whole("--limit", v, 1, INT64_MAX); });
  add_no_progress(evaluation, o);
  add_network({app, "network"}, o, "the recipe's, 256");
  add_device({app, "device"}, o);
  add_optimization({app, "optimization"}, o, false);
  add_help(app, "other");
  app.footer("Prints the test accuracy of the weights.");
}

void add_predict(CLI::App& app, Options& o) {
  add_model(app, o);
  app.add_option("IMAGE", o.images, "PNG or JPEG files, and folders (every PNG and JPEG file below them)");
  const Group prediction{app, "prediction"};
  prediction.value("--weights", "FILE",
                   "the trained weights, written by resnetc train (default: the initialized network, untrained, as "
                   "resnetc export writes it without --weights)",
                   [&o](const std::string& v) { o.weights = v; });
  prediction.value("--seed", "N", "without --weights: the seed of the initial weights, as resnetc train --seed "
                   "(default: the file's train section's, else 0)",
                   [&o](const std::string& v) { o.seed = whole("--seed", v, 0, INT64_MAX); });
  prediction.value("--top", "K", "print each image's K most probable classes (default 5)",
                   [&o](const std::string& v) { o.top = whole("--top", v, 1, 100000); });
  prediction.value("--format", "FORMAT",
                   "text (the default) or json: a list of {\"file\": ..., \"top\": [{\"class\": ..., \"prob\": ...}]}",
                   [&o](const std::string& v) {
                     o.format = choice<Format>("--format", v, {{"text", Format::Text}, {"json", Format::Json}});
                   });
  add_network({app, "network"}, o, "the number of images, at most 64");
  add_device({app, "device"}, o);
  add_optimization({app, "optimization"}, o, false);
  add_help(app, "other");
  app.footer("Each image is read as the training data is: decoded to the network's input channels and resized to its "
             "height and width with PIL's bilinear filter (with the weights' center crop, to the training images' size, "
             "cropped, then resized to the input), pixels divided by 255 and normalized with the mean and std "
             "the weights were trained with (the checkpoint's normalize_mean and normalize_std), if any. The classes "
             "are named as the data set the weights were trained on named them (the checkpoint's class_names), else "
             "numbered. Probabilities are the softmax of the logits, in double precision.");
}

void add_bench(CLI::App& app, Options& o) {
  add_model(app, o);
  const Group bench{app, "benchmark"};
  bench.value("--steps", "N", "timed training steps (default 10)",
              [&o](const std::string& v) { o.steps = whole("--steps", v, 1, 1000000); });
  bench.value("--warmup", "N", "untimed steps before them (default 2)",
              [&o](const std::string& v) { o.warmup = whole("--warmup", v, 0, 1000000); });
  bench.flag("--profile", o.profile,
             "then time the same steps kernel by kernel (no CUDA graph, so a little slower) and print the slowest "
             "kernels and the time by kind, with GFLOP/s and GB/s");
  const Group input{app, "the input pipeline (with --data: its images/sec, no training)"};
  add_data(input, o);
  input.value("--mean", "M[,M...]",
              "normalize the batches as training does (docs/data.md), with --std (default: the train section's mean "
              "and std, if any)",
              [&o](const std::string& v) { o.mean = number_list("--mean", v, false); });
  input.value("--std", "S[,S...]", "the normalization's standard deviations, each above 0 (with --mean)",
              [&o](const std::string& v) { o.std_dev = number_list("--std", v, true); });
  input.value("--image-size", "N|HxW",
              "folder: the size its images are kept at, as resnetc train --image-size, the batches resized from it "
              "to the network's input (default: the train section's image_size, else the input's size)",
              [&o](const std::string& v) { o.image_size = augmentation_value("--image-size", v, data::parse_image_size); });
  add_update({app, "the update (each replaces the file's `train` section)"}, o);
  add_network({app, "network"}, o, "the recipe's, 256");
  add_device({app, "device"}, o);
  add_optimization({app, "optimization"}, o, false);
  add_help(app, "other");
  app.footer("The images are uniform noise and the labels random; the weights are initialized as for training. "
             "Prints the steps' time and examples/sec.\n\n"
             "With --data DIR it times the input pipeline instead, on --threads threads: the data set's files read "
             "(a folder's training images decoded and resized to the network's input, or to --image-size), then one "
             "epoch of batches assembled as training assembles them; it prints images/sec of each and of the two "
             "together. "
             "bench/input_vs_torch compares it with torchvision's DataLoader.");
}

void add_plot(CLI::App& app, Options& o) {
  app.add_option("LOG", o.logs, "training logs written by resnetc train --log (CSV or JSON lines)");
  const Group figure{app, "the figure"};
  figure.value("-o,--output", "FILE", "the figure to write: .svg, or .png when rsvg-convert is installed (required)",
               [&o](const std::string& v) {
                 if (v.empty()) throw UsageError("-o needs a file name (it is empty)");
                 o.output = v;
               });
  add_help(app, "other");
  app.footer("Draws the book's figure of training runs: the training loss in one panel, the train and test accuracy "
             "in the other, against the epoch. Every run of every log is drawn, several overlaid in their own colors "
             "and named by what differs in their command lines (--lr 0.1, --device cuda, ...); a resumed run is one "
             "run. A log being written is read up to its last complete line; an epoch whose value is not a number "
             "leaves a gap. The figure is replaced atomically, never an input.");
}

void add_export(CLI::App& app, Options& o) {
  add_model(app, o);
  const Group model{app, "the model"};
  model.value("--weights", "FILE", "the trained weights, written by resnetc train (default: the initialized network)",
              [&o](const std::string& v) { o.weights = v; });
  model.value("--seed", "N", "without --weights: the seed of the initial weights, as resnetc train --seed (default: "
              "the file's train section's, else 0)",
              [&o](const std::string& v) { o.seed = whole("--seed", v, 0, INT64_MAX); });
  model.value("--format", "FORMAT",
              "onnx: the network as an ONNX model (default); pytorch: its parameters and BatchNorm statistics as "
              "the safetensors state dict of the torchvision ResNet of the same structure",
              [&o](const std::string& v) {
                o.export_format = choice<ExportFormat>("--format", v,
                                                       {{"onnx", ExportFormat::Onnx}, {"pytorch", ExportFormat::PyTorch}});
              });
  model.value("-o,--output", "FILE", "the model to write, atomically (required)", [&o](const std::string& v) {
    if (v.empty()) throw UsageError("-o needs a file name (it is empty)");
    o.output = v;
  });
  model.value("--input", "CxHxW", "input size, replacing the file's `input` line",
              [&o](const std::string& v) { o.input = chw(v); });
  add_help(app, "other");
  app.footer("Writes the network in evaluation mode as an ONNX model (opset 17) that ONNX Runtime runs: BatchNorm "
             "folded into the convolutions, dropout the identity, the batch dimension free (\"N\"), the input named "
             "\"input\" and the output \"logits\". The model's metadata holds the class names and the normalization "
             "the weights were trained with (the checkpoint's class_names, normalize_mean and normalize_std); the "
             "images go in as resnetc predict feeds them. The model passes the ONNX checker before it is written. "
             "docs/export.md shows how to run it. With --format pytorch: a safetensors file that "
             "the torchvision ResNet of the same structure (its num_classes, conv1 taking the input's channels) loads "
             "with load_state_dict(strict=True); a network without torchvision's structure is refused.");
}

// What follows "usage: " in each command's --help; the top level's lists them all.
std::map<std::string, std::string> usage_lines() {
  std::map<std::string, std::string> usage = {
      {"compile", "resnetc [compile] MODEL.net [options]"},
      {"train", "resnetc train MODEL.net [options]"},
      {"eval", "resnetc eval MODEL.net --weights FILE [options]"},
      {"predict", "resnetc predict MODEL.net [--weights FILE] IMAGE... [options]"},
      {"bench", "resnetc bench MODEL.net [options]"},
      {"plot", "resnetc plot LOG... -o FIGURE"},
      {"export", "resnetc export MODEL.net [--weights FILE] [--format onnx|pytorch] -o FILE"},
      {"help", "resnetc help [COMMAND]"},
  };
  usage["resnetc"] = fmt::format("{}\n       {}\n       {}\n       {}\n       {}\n       {}\n       {}\n       {}",
                                 usage["compile"], usage["train"], usage["eval"], usage["predict"], usage["bench"],
                                 usage["plot"], usage["export"], usage["help"]);
  return usage;
}

}  // namespace

CommandLine::CommandLine(Options& o)
    : app_("Compiles a residual network described in a .net file, reports on it, trains it and tests it, on the "
           "CPU or an NVIDIA GPU.", "resnetc") {
  // Set before the commands are added, which inherit them.
  app_.formatter(std::make_shared<HelpFormatter>(usage_lines()));
  app_.option_defaults()->disable_flag_override();  // --train=0 is an error (CLI11 lets --train=true through)
  app_.allow_extras();  // parse_options reports them, naming the command they belong to
  app_.fallthrough();   // --version, --prelude and --list-passes after a command too
  app_.require_subcommand(0, 1);

  const std::vector<std::pair<std::string, std::string>> commands = {
      {"compile", "print a model's layer table, or its IR, kernel plan or generated code (the default command)"},
      {"train", "train a model on Fashion-MNIST, MNIST, CIFAR or image folders, with a checkpoint after every epoch"},
      {"eval", "print the test accuracy of a model's trained weights"},
      {"predict", "print the most probable classes of images under a model's trained weights"},
      {"bench", "time training steps on synthetic data"},
      {"plot", "draw training logs as the book's figure: loss, train and test accuracy against epoch"},
      {"export", "write a model and its weights as an ONNX model, for ONNX Runtime and other frameworks, or as "
                 "a PyTorch state dict"},
      {"help", "list a command's options (the same as COMMAND --help)"},
  };
  for (const auto& [name, description] : commands) app_.add_subcommand(name, description)->group("commands");
  add_compile(*command("compile"), o);
  add_train(*command("train"), o);
  add_eval(*command("eval"), o);
  add_predict(*command("predict"), o);
  add_bench(*command("bench"), o);
  add_plot(*command("plot"), o);
  add_export(*command("export"), o);
  command("help")->add_option("COMMAND", help_topic_, "the command whose options to list");
  add_help(*command("help"), "options");

  app_.add_flag("--version", o.version, "print resnetc's version and exit")->group("options");
  app_.add_flag("--prelude", o.prelude, "print the built-in blocks (basic, bottleneck, ...) in the language itself")
      ->group("options");
  app_.add_flag("--list-passes", o.list_passes, "print the optimization passes, their levels and what they do")
      ->group("options");
  add_help(app_, "options");
  app_.footer("'resnetc help COMMAND' (or 'resnetc COMMAND --help') lists a command's options. Without a command, "
              "resnetc compiles: 'resnetc MODEL.net' is 'resnetc compile MODEL.net'. Options take their value after "
              "'=' or as the next argument.\n\n"
              "Exit status: 0 on success, 1 when the model, the data or a checkpoint has an error or training fails, "
              "2 for bad usage. The language is described in docs/language.md.");
}

CLI::App* CommandLine::command(std::string_view name) {
  for (CLI::App* sub : commands())
    if (sub->get_name() == name) return sub;
  return nullptr;
}

std::vector<CLI::App*> CommandLine::commands() { return app_.get_subcommands([](CLI::App*) { return true; }); }

std::optional<Command> command_named(std::string_view name) {
  for (Command c : {Command::Compile, Command::Train, Command::Eval, Command::Predict, Command::Bench, Command::Plot,
                    Command::Export})
    if (name_of(c) == name) return c;
  return std::nullopt;
}

std::string_view name_of(Command command) {
  switch (command) {
    case Command::Compile: return "compile";
    case Command::Train: return "train";
    case Command::Eval: return "eval";
    case Command::Predict: return "predict";
    case Command::Bench: return "bench";
    case Command::Plot: return "plot";
    case Command::Export: return "export";
  }
  return "";
}

}  // namespace resnetc::cli
