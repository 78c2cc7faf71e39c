#pragma once
// The verifier's walk over one graph (verify() in verifier.h): what it has indexed and found so
// far, and its checks, defined by concern: references.cpp (how messages name things),
// values.cpp (values and the graph's ends), ops.cpp (each op), parameters.cpp (who owns each
// parameter). Internal to the verifier.
#include <fmt/format.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/ir/shape_inference.h"

namespace resnetc::ir::verify_detail {

std::string_view role_name(ValueRole role);
bool is_known_role(ValueRole role);

class Verifier {
 public:
  explicit Verifier(const Graph& graph) : g_(graph) {}

  std::vector<std::string> run();

 private:
  template <typename... Args>
  void report(fmt::format_string<Args...> format, Args&&... args) {
    problems_.push_back(fmt::format(format, std::forward<Args>(args)...));
  }

  bool valid_value(ValueId id) const { return id >= 0 && static_cast<size_t>(id) < g_.values.size(); }
  bool valid_op(OpId id) const { return id >= 0 && static_cast<size_t>(id) < g_.ops.size(); }
  const Value& val(ValueId id) const { return g_.values[static_cast<size_t>(id)]; }
  const Op& op_at(OpId id) const { return g_.ops[static_cast<size_t>(id)]; }

  // references.cpp
  std::string op_ref(OpId id) const;
  std::string value_ref(ValueId id) const;
  std::string value_subject(ValueId id) const;

  // values.cpp
  void index_producers();
  void check_graph_ends_and_values();
  void check_value_names();
  void check_output();

  // ops.cpp
  class KindContext;
  void check_op(OpId id);
  void check_op_name(OpId id, const Op& op, const std::string& me);
  void check_op_output(OpId id, const Op& op, const std::string& me);
  std::optional<std::vector<Dims>> check_inputs(OpId id, const Op& op, const std::string& me);
  void check_data_input(OpId id, const Op& op, const std::string& me, size_t k);
  bool check_output_shape(const Op& op, const std::string& me, const std::vector<Dims>& data_shapes);
  void check_params(const Op& op, const std::string& me, const Dims& first_shape);
  void check_param(const Op& op, const std::string& me, const ParamSpec& spec, size_t index);
  void check_attrs(const Op& op, const std::string& me);
  void check_update_order(OpId id, const std::string& me);

  // parameters.cpp
  void check_parameter_use();

  const Graph& g_;
  std::vector<std::string> problems_;
  std::vector<OpId> produced_by_;              // per value: the first op whose output it is, or -1
  std::vector<std::vector<OpId>> uses_;        // per value: the ops that read it, in op order
  std::map<std::string_view, OpId> op_names_;  // first op of each name
};

}  // namespace resnetc::ir::verify_detail
