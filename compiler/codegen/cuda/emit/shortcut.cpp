// pad_shortcut and its gradient (He et al. 2015's option-A shortcut) as elementwise kernels
// over their outputs: each output element finds its one source element, or is zero.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {

void emit_shortcut(Emitter& e) {
  using Mode = Elementwise::Mode;
  const bool forward = e.kernel().kind == ir::OpKind::PadShortcut;
  if (!forward && e.kernel().kind != ir::OpKind::PadShortcutGrad)
    throw std::invalid_argument("CUDA emitter: not a shortcut op: " + e.where());
  const ir::Dims& x = forward ? e.in(0).shape : e.out().shape;
  const ir::Dims& y = forward ? e.out().shape : e.in(0).shape;
  Elementwise w;
  w.total = ir::numel(e.out().shape);
  w.max_elements = std::max(ir::numel(x), ir::numel(y));
  Members m;
  m.constant("CIN", x[1]).constant("XH", x[2]).constant("XW", x[3]);
  m.constant("COUT", y[1]).constant("YH", y[2]).constant("YW", y[3]);
  m.constant("SH", e.attrs().stride[0]).constant("SW", e.attrs().stride[1]);
  w.members = m.str();
  const std::string shape = ir::format_dims(e.out().shape);
  if (forward) {
    w.family = "pad_shortcut";
    w.comment = "y[n, c, h, w] = c < CIN ? x[n, c, h * SH, w * SW] : 0, " + shape;
    w.streams = {{"y", Mode::Out, e.out_index()}};
    w.extra = {{"x", ParamType::In, e.in_index(0)}};
    w.code =
        "const I yw = i % YW, yrow = i / YW, yh = yrow % YH, yplane = yrow / YH;\n"
        "const I yc = yplane % COUT, yn = yplane / COUT;\n"
        "y_v = yc < CIN ? x[((yn * CIN + yc) * XH + yh * SH) * XW + yw * SW] : 0.0f;";
  } else {
    w.family = "pad_shortcut_grad";
    w.comment = "dx[n, c, h, w] = SH | h and SW | w ? dy[n, c, h / SH, w / SW] : 0, " + shape;
    w.streams = {{"dx", Mode::Out, e.out_index()}};
    w.extra = {{"dy", ParamType::In, e.in_index(0)}};
    w.code =
        "const I xw = i % XW, xrow = i / XW, xh = xrow % XH, xplane = xrow / XH;\n"
        "const I xc = xplane % CIN, xn = xplane / CIN;\n"
        "dx_v = xh % SH == 0 && xw % SW == 0 ? dy[((xn * COUT + xc) * YH + xh / SH) * YW + xw / SW] : 0.0f;";
  }
  emit_elementwise_kernel(e, w);
}

}  // namespace resnetc::codegen::cuda::detail
