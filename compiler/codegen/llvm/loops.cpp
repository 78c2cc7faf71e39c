#include "compiler/codegen/llvm/loops.h"

#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/Attributes.h>
#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Metadata.h>
#include <llvm/Support/Alignment.h>

namespace resnetc::codegen::llvm_backend {
namespace {

llvm::StringRef ref(std::string_view s) { return {s.data(), s.size()}; }

llvm::Value* as_i64(Builder& b, llvm::Value* value) {
  return value->getType() == b.getInt64Ty() ? value : b.CreateIntCast(value, b.getInt64Ty(), /*isSigned=*/true);
}

llvm::MDNode* loop_metadata(llvm::LLVMContext& ctx, const LoopHints& hints) {
  auto flag = [&](const char* name) -> llvm::Metadata* { return llvm::MDNode::get(ctx, llvm::MDString::get(ctx, name)); };
  auto value = [&](const char* name, llvm::Constant* v) -> llvm::Metadata* {
    return llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, name), llvm::ConstantAsMetadata::get(v)});
  };
  auto* i1_true = llvm::ConstantInt::getTrue(ctx);
  auto i32 = [&](unsigned v) { return llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), v); };

  llvm::SmallVector<llvm::Metadata*, 8> ops{nullptr};  // operand 0 refers to the node itself
  ops.push_back(flag("llvm.loop.mustprogress"));        // a counted loop always terminates
  if (hints.no_vectorize) {
    ops.push_back(value("llvm.loop.vectorize.width", i32(1)));
  } else if (hints.vectorize || hints.vector_width > 0) {
    ops.push_back(value("llvm.loop.vectorize.enable", i1_true));
    if (hints.vector_width > 0) ops.push_back(value("llvm.loop.vectorize.width", i32(hints.vector_width)));
  }
  if (hints.interleave > 0) ops.push_back(value("llvm.loop.interleave.count", i32(hints.interleave)));
  if (hints.no_unroll) {
    ops.push_back(flag("llvm.loop.unroll.disable"));
  } else if (hints.unroll > 0) {
    ops.push_back(value("llvm.loop.unroll.count", i32(hints.unroll)));
  }
  auto* node = llvm::MDNode::getDistinct(ctx, ops);
  node->replaceOperandWith(0, node);
  return node;
}

}  // namespace

llvm::ConstantInt* i64(Builder& b, int64_t value) { return b.getInt64(static_cast<uint64_t>(value)); }
llvm::ConstantInt* i32(Builder& b, int32_t value) { return b.getInt32(static_cast<uint32_t>(value)); }
llvm::Constant* f32(Builder& b, float value) { return llvm::ConstantFP::get(b.getFloatTy(), static_cast<double>(value)); }

llvm::Value* gep_f32(Builder& b, llvm::Value* ptr, llvm::Value* index, const llvm::Twine& name) {
  return b.CreateInBoundsGEP(b.getFloatTy(), ptr, as_i64(b, index), name);
}

llvm::LoadInst* load_f32(Builder& b, llvm::Value* ptr, llvm::Value* index, uint64_t align) {
  return b.CreateAlignedLoad(b.getFloatTy(), gep_f32(b, ptr, index), llvm::MaybeAlign(align));
}
llvm::StoreInst* store_f32(Builder& b, llvm::Value* value, llvm::Value* ptr, llvm::Value* index, uint64_t align) {
  return b.CreateAlignedStore(value, gep_f32(b, ptr, index), llvm::MaybeAlign(align));
}

void mark_array_arg(llvm::Function* function, unsigned arg, uint64_t bytes, bool readonly, uint64_t align) {
  auto& ctx = function->getContext();
  function->addParamAttr(arg, llvm::Attribute::NoAlias);
  function->addParamAttr(arg, llvm::Attribute::NoCapture);
  function->addParamAttr(arg, llvm::Attribute::NoUndef);
  if (align > 1) function->addParamAttr(arg, llvm::Attribute::getWithAlignment(ctx, llvm::Align(align)));
  if (bytes > 0) {
    function->addDereferenceableParamAttr(arg, bytes);
  } else {
    function->addParamAttr(arg, llvm::Attribute::NonNull);
  }
  if (readonly) function->addParamAttr(arg, llvm::Attribute::ReadOnly);
}

llvm::Function* make_kernel(llvm::Module& module, std::string_view name, std::initializer_list<Param> params) {
  return make_kernel(module, name, llvm::ArrayRef<Param>(params.begin(), params.end()));
}

llvm::Function* make_kernel(llvm::Module& module, std::string_view name, llvm::ArrayRef<Param> params) {
  auto& ctx = module.getContext();
  llvm::SmallVector<llvm::Type*, 8> types;
  for (const auto& p : params) {
    switch (p.kind) {
      case Param::F32Array:
      case Param::ConstF32Array: types.push_back(llvm::Type::getFloatPtrTy(ctx)); break;
      case Param::F32: types.push_back(llvm::Type::getFloatTy(ctx)); break;
      case Param::I64: types.push_back(llvm::Type::getInt64Ty(ctx)); break;
      case Param::Opaque: types.push_back(llvm::Type::getInt8PtrTy(ctx)); break;
    }
  }
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), types, /*isVarArg=*/false);
  auto* function = llvm::Function::Create(type, llvm::Function::ExternalLinkage, ref(name), module);
  function->addFnAttr(llvm::Attribute::NoUnwind);
  for (unsigned i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    function->getArg(i)->setName(p.name);
    if (p.kind == Param::F32Array || p.kind == Param::ConstF32Array) {
      mark_array_arg(function, i, 4 * p.elements, p.kind == Param::ConstF32Array);
    }
  }
  llvm::BasicBlock::Create(ctx, "entry", function);
  return function;
}

void emit_for(Builder& b, std::string_view name, llvm::Value* begin, llvm::Value* end, llvm::Value* step,
              llvm::function_ref<void(llvm::Value* index)> body, const LoopHints& hints) {
  auto* const_begin = llvm::dyn_cast<llvm::ConstantInt>(begin);
  auto* const_end = llvm::dyn_cast<llvm::ConstantInt>(end);
  if (const_begin && const_end && const_begin->getSExtValue() >= const_end->getSExtValue()) return;

  auto& ctx = b.getContext();
  std::string n(name);
  begin = as_i64(b, begin);
  end = as_i64(b, end);
  step = as_i64(b, step);

  // Emitting in the middle of a block: what follows the insertion point becomes the exit.
  llvm::BasicBlock* preheader = b.GetInsertBlock();
  llvm::Function* function = preheader->getParent();
  llvm::BasicBlock* exit = nullptr;
  if (b.GetInsertPoint() != preheader->end()) {
    exit = preheader->splitBasicBlock(b.GetInsertPoint(), n + ".end");
    preheader->getTerminator()->eraseFromParent();
    b.SetInsertPoint(preheader);
  }

  auto* header = llvm::BasicBlock::Create(ctx, n + ".cond", function, exit);
  auto* body_block = llvm::BasicBlock::Create(ctx, n + ".body", function, exit);
  b.CreateBr(header);

  b.SetInsertPoint(header);
  llvm::PHINode* index = b.CreatePHI(b.getInt64Ty(), 2, n);
  index->addIncoming(begin, preheader);
  if (!exit) exit = llvm::BasicBlock::Create(ctx, n + ".end", function);  // placed last below
  b.CreateCondBr(b.CreateICmpSLT(index, end, n + ".more"), body_block, exit);

  b.SetInsertPoint(body_block);
  body(index);

  // Latch after whatever blocks the body made, then the exit after it.
  auto* latch = llvm::BasicBlock::Create(ctx, n + ".inc", function);
  b.CreateBr(latch);
  b.SetInsertPoint(latch);
  llvm::Value* next = b.CreateAdd(index, step, n + ".next", /*HasNUW=*/true, /*HasNSW=*/true);
  llvm::BranchInst* back = b.CreateBr(header);
  back->setMetadata(llvm::LLVMContext::MD_loop, loop_metadata(ctx, hints));
  index->addIncoming(next, latch);
  exit->moveAfter(latch);
  b.SetInsertPoint(exit, exit->getFirstInsertionPt());
}

void emit_for(Builder& b, std::string_view name, int64_t begin, int64_t end, int64_t step,
              llvm::function_ref<void(llvm::Value* index)> body, const LoopHints& hints) {
  if (begin >= end) return;
  emit_for(b, name, i64(b, begin), i64(b, end), i64(b, step), body, hints);
}

llvm::FunctionCallee declare_parallel_for(llvm::Module& module) {
  auto& ctx = module.getContext();
  auto* i8ptr = llvm::Type::getInt8PtrTy(ctx);
  auto* i64_type = llvm::Type::getInt64Ty(ctx);
  auto* void_type = llvm::Type::getVoidTy(ctx);
  auto* task_type = llvm::FunctionType::get(void_type, {i8ptr, i64_type, i64_type}, false);
  auto* type = llvm::FunctionType::get(void_type, {i8ptr, i64_type, task_type->getPointerTo(), i8ptr}, false);
  return module.getOrInsertFunction("resnetc_parallel_for", type);
}

void emit_parallel_for(Builder& b, llvm::Value* pool, std::string_view name, llvm::Value* n,
                       llvm::ArrayRef<llvm::Value*> captured,
                       llvm::function_ref<void(Builder&, llvm::Value*, llvm::Value*, llvm::ArrayRef<llvm::Value*>)> body) {
  auto& ctx = b.getContext();
  llvm::Function* enclosing = b.GetInsertBlock()->getParent();
  llvm::Module& module = *enclosing->getParent();
  auto* i8ptr = b.getInt8PtrTy();
  auto* i64_type = b.getInt64Ty();
  auto* void_type = b.getVoidTy();
  std::string base(name);

  llvm::SmallVector<llvm::Type*, 8> types;
  for (auto* v : captured) types.push_back(v->getType());

  // The body: internal void name(captured..., i64 begin, i64 end).
  llvm::SmallVector<llvm::Type*, 8> body_params(types.begin(), types.end());
  body_params.push_back(i64_type);
  body_params.push_back(i64_type);
  auto* body_fn = llvm::Function::Create(llvm::FunctionType::get(void_type, body_params, false),
                                         llvm::Function::InternalLinkage, base, module);
  body_fn->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::SmallVector<llvm::Value*, 8> body_args;
  for (unsigned i = 0; i < captured.size(); ++i) {
    auto* arg = body_fn->getArg(i);
    arg->setName(captured[i]->getName());
    if (auto* original = llvm::dyn_cast<llvm::Argument>(captured[i]); original && original->getParent() == enclosing) {
      body_fn->addParamAttrs(i, llvm::AttrBuilder(ctx, enclosing->getAttributes().getParamAttrs(original->getArgNo())));
    }
    body_args.push_back(arg);
  }
  auto* begin = body_fn->getArg(static_cast<unsigned>(captured.size()));
  auto* end = body_fn->getArg(static_cast<unsigned>(captured.size() + 1));
  begin->setName("begin");
  end->setName("end");
  {
    Builder body_builder(llvm::BasicBlock::Create(ctx, "entry", body_fn));
    body(body_builder, begin, end, body_args);
    body_builder.CreateRetVoid();
  }

  // The trampoline the pool calls: internal void name.task(i8* ctx, i64 begin, i64 end).
  auto* frame_type = llvm::StructType::get(ctx, types);
  auto* task_type = llvm::FunctionType::get(void_type, {i8ptr, i64_type, i64_type}, false);
  auto* task = llvm::Function::Create(task_type, llvm::Function::InternalLinkage, base + ".task", module);
  task->addFnAttr(llvm::Attribute::NoUnwind);
  task->getArg(0)->setName("ctx");
  task->getArg(1)->setName("begin");
  task->getArg(2)->setName("end");
  {
    Builder tb(llvm::BasicBlock::Create(ctx, "entry", task));
    auto* frame = tb.CreateBitCast(task->getArg(0), frame_type->getPointerTo(), "frame");
    llvm::SmallVector<llvm::Value*, 8> args;
    for (unsigned i = 0; i < types.size(); ++i) {
      args.push_back(tb.CreateLoad(types[i], tb.CreateStructGEP(frame_type, frame, i), captured[i]->getName()));
    }
    args.push_back(task->getArg(1));
    args.push_back(task->getArg(2));
    tb.CreateCall(body_fn, args);
    tb.CreateRetVoid();
  }

  // The call site: the captured values go into a stack frame the task reads.
  llvm::BasicBlock& entry = enclosing->getEntryBlock();
  Builder alloca_builder(&entry, entry.getFirstInsertionPt());
  auto* frame = alloca_builder.CreateAlloca(frame_type, nullptr, base + ".frame");
  for (unsigned i = 0; i < captured.size(); ++i) b.CreateStore(captured[i], b.CreateStructGEP(frame_type, frame, i));
  if (pool->getType() != i8ptr) pool = b.CreatePointerCast(pool, i8ptr);
  b.CreateCall(declare_parallel_for(module), {pool, as_i64(b, n), task, b.CreateBitCast(frame, i8ptr)});
}

}  // namespace resnetc::codegen::llvm_backend
