#include "compiler/codegen/llvm/kernel_emitter.h"

#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include <bit>
#include <stdexcept>
#include <utility>

#include "compiler/ir/ops.h"

namespace resnetc::codegen::llvm_backend {

using ir::OpKind;

namespace {

// Each skeleton's family emitter (ops.def gives every kind its skeleton).
void dispatch(KernelBody& k) {
  using ir::Skeleton;
  switch (ir::op_skeleton(k.kernel.kind)) {
    case Skeleton::WindowContraction: return emit_convolution(k);
    case Skeleton::Contraction: return emit_linear(k);
    case Skeleton::PerChannel: return emit_channel_reduction(k);
    case Skeleton::Map: return emit_map(k);
    case Skeleton::Window: return emit_pooling(k);
    case Skeleton::Loss: return emit_loss(k);
    case Skeleton::Update: return emit_update(k);
    case Skeleton::Fused: return emit_fused(k);
    case Skeleton::Alias:  // the plan makes these views of their source, never kernels
    case Skeleton::None: break;  // lowered to fused maps at every level (passes/lower_maps.cpp)
  }
  throw std::logic_error(fmt::format("the CPU backend has no kernel for {}", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace

void emit_kernel(llvm::Module& module, const plan::KernelPlan& plan, size_t index, const std::string& symbol,
                 const EmitOptions& options) {
  const plan::Kernel& kernel = plan.kernels.at(index);

  if (kernel.epilogue_stats >= 0 && kernel.kind != OpKind::Conv2d)
    throw std::logic_error(fmt::format("{}: epilogue statistics on {}, which only conv2d computes", kernel.name,
                                       ir::op_kind_name(kernel.kind)));

  // The typed kernel: one array parameter per buffer, then the pool; each dereferenceable for
  // its bytes (a bf16 buffer's are half its elements' floats).
  std::vector<Param> params;
  std::vector<int> array_buffers;  // the buffer of each array parameter
  for (size_t i = 0; i < kernel.inputs.size(); ++i) {
    const plan::Buffer& buf = plan.buffer(kernel.inputs[i]);
    const bool written = ir::writes_input(kernel.kind, i);  // an update's parameters, velocities, statistics
    params.push_back({fmt::format("in{}", i), written ? Param::F32Array : Param::ConstF32Array,
                      static_cast<uint64_t>(buf.bytes / 4)});
    array_buffers.push_back(kernel.inputs[i]);
  }
  for (auto [name, buffer] : {std::pair{"out", kernel.output}, std::pair{"stats", kernel.epilogue_stats}}) {
    if (buffer < 0) continue;
    params.push_back({name, Param::F32Array, static_cast<uint64_t>(plan.buffer(buffer).bytes / 4)});
    array_buffers.push_back(buffer);
  }
  params.push_back({"pool", Param::Opaque, 0});
  llvm::Function* fn = make_kernel(module, symbol, llvm::ArrayRef<Param>(params));
  fn->setLinkage(llvm::GlobalValue::InternalLinkage);  // reached through the entry point only
  // make_kernel promises 64-byte aligned arrays; a view that starts inside its source's cache
  // line has only the alignment of its offset (the storage itself is 64-byte aligned).
  for (size_t i = 0; i < array_buffers.size(); ++i) {
    const int64_t offset = plan.buffer(array_buffers[i]).offset;
    if (offset % 64 == 0) continue;
    const auto arg = static_cast<unsigned>(i);
    const uint64_t align = uint64_t{1} << std::countr_zero(static_cast<uint64_t>(offset));
    fn->removeParamAttr(arg, llvm::Attribute::Alignment);
    fn->addParamAttr(arg, llvm::Attribute::getWithAlignment(module.getContext(), llvm::Align(align)));
  }

  Builder b(&fn->getEntryBlock());
  KernelBody body{b, module, plan, kernel, {}, nullptr, nullptr, nullptr, options};
  for (size_t i = 0; i < kernel.inputs.size(); ++i) body.in.push_back(fn->getArg(static_cast<unsigned>(i)));
  auto next = static_cast<unsigned>(kernel.inputs.size());
  if (kernel.output >= 0) body.out = fn->getArg(next++);
  if (kernel.epilogue_stats >= 0) body.stats = fn->getArg(next);
  body.pool = fn->getArg(static_cast<unsigned>(fn->arg_size() - 1));
  dispatch(body);
  b.CreateRetVoid();

  // The entry point: unpacks the argument array and calls the typed kernel (inlined at O3).
  llvm::LLVMContext& ctx = module.getContext();
  auto* i8ptr = llvm::Type::getInt8PtrTy(ctx);
  auto* entry_type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {i8ptr->getPointerTo(), i8ptr}, false);
  auto* entry = llvm::Function::Create(entry_type, llvm::GlobalValue::ExternalLinkage, symbol + ".entry", module);
  entry->addFnAttr(llvm::Attribute::NoUnwind);
  Builder e(llvm::BasicBlock::Create(ctx, "entry", entry));
  std::vector<llvm::Value*> args;
  const size_t arrays = params.size() - 1;
  auto* f32ptr = llvm::Type::getFloatPtrTy(ctx);
  for (size_t i = 0; i < arrays; ++i) {
    llvm::Value* slot = e.CreateConstInBoundsGEP1_64(i8ptr, entry->getArg(0), static_cast<uint64_t>(i));
    args.push_back(e.CreateBitCast(e.CreateAlignedLoad(i8ptr, slot, llvm::Align(8)), f32ptr));
  }
  args.push_back(entry->getArg(1));
  e.CreateCall(fn, args);
  e.CreateRetVoid();
}

}  // namespace resnetc::codegen::llvm_backend
