#include "tools/resnetc/table_report.h"

#include <fmt/format.h>

#include <algorithm>

namespace resnetc::cli {
namespace {

std::string thousands(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string bytes(int64_t b) {
  double mib = static_cast<double>(b) / (1024.0 * 1024.0);
  return mib >= 1024 ? fmt::format("{:.2f} GiB", mib / 1024) : fmt::format("{:.2f} MiB", mib);
}

std::string giga(int64_t v) { return fmt::format("{:.2f} G", static_cast<double>(v) / 1e9); }

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

}  // namespace

std::string format_table_text(const analysis::LayerTable& t, const TrainingMemory& m) {
  size_t name_w = 5, op_w = 2, shape_w = 12;
  for (const auto& r : t.rows) {
    name_w = std::max(name_w, r.name.size());
    op_w = std::max(op_w, r.op.size());
    shape_w = std::max(shape_w, ir::format_dims(r.shape).size());
  }
  size_t total_w = name_w + op_w + shape_w + 15 + 18 + 8;
  std::string rule(total_w, '=');
  std::string out = fmt::format("network {}, input {}\n{}\n", t.network, ir::format_dims(t.input), rule);
  out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>15}  {:>18}\n", "Layer", name_w, "Op", op_w, "Output shape", shape_w,
                     "Params", "MACs");
  out += std::string(total_w, '-') + "\n";
  for (const auto& r : t.rows)
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>15}  {:>18}\n", r.name, name_w, r.op, op_w,
                       ir::format_dims(r.shape), shape_w, r.params ? thousands(r.params) : "--",
                       r.macs ? thousands(r.macs) : "--");
  out += rule + "\n";
  out += fmt::format("Total params:       {}\n", thousands(t.total_params));
  out += fmt::format("Trainable params:   {}\n", thousands(t.trainable_params));
  out += fmt::format("Total MACs:         {} ({})\n", thousands(t.total_macs), giga(t.total_macs));
  out += fmt::format("Parameter memory:   {} (float32, with BatchNorm running statistics)\n", bytes(t.param_bytes));
  out += fmt::format("Activation memory:  {} (a training step at batch {}: layer outputs and their gradients)\n",
                     bytes(t.activation_bytes), t.input.empty() ? 0 : t.input[0]);
  if (!m.none_because.empty())
    out += fmt::format("Training memory:    none: {}\n", m.none_because);
  else
    out += fmt::format("Training memory:    {} planned at -O{}, {} unplanned (the kernel plan's buffers, reused by "
                       "liveness vs one each)\n",
                       bytes(m.planned_bytes), m.opt_level, bytes(m.unplanned_bytes));
  return out;
}

std::string format_table_json(const analysis::LayerTable& t, const TrainingMemory& m) {
  std::string out = fmt::format("{{\"network\": {}, \"input\": [{}], \"layers\": [", json_string(t.network),
                                fmt::join(t.input, ", "));
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    out += fmt::format("{}\n  {{\"name\": {}, \"op\": {}, \"shape\": [{}], \"params\": {}, \"macs\": {}}}",
                       i ? "," : "", json_string(r.name), json_string(r.op), fmt::join(r.shape, ", "), r.params,
                       r.macs);
  }
  // Without a training step its byte counts are null and a note says why.
  const bool none = !m.none_because.empty();
  out += fmt::format(
      "\n], \"total_params\": {}, \"trainable_params\": {}, \"total_macs\": {}, \"param_bytes\": {}, "
      "\"activation_bytes\": {}, \"planned_training_bytes\": {}, \"unplanned_training_bytes\": {}{}}}\n",
      t.total_params, t.trainable_params, t.total_macs, t.param_bytes, t.activation_bytes,
      none ? "null" : std::to_string(m.planned_bytes), none ? "null" : std::to_string(m.unplanned_bytes),
      none ? fmt::format(", \"training_note\": {}", json_string(m.none_because)) : std::string());
  return out;
}

}  // namespace resnetc::cli
