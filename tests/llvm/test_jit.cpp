#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "compiler/codegen/llvm/jit.h"

using namespace resnetc::codegen::llvm_backend;
using Catch::Matchers::Contains;

namespace {

// float add_one(float x) { return x + 1; } in a fresh module.
std::unique_ptr<llvm::Module> add_one_module(Jit& jit, llvm::LLVMContext& ctx, const std::string& name = "add_one") {
  auto module = jit.new_module("m_" + name, ctx);
  llvm::IRBuilder<> b(ctx);
  auto* type = llvm::FunctionType::get(b.getFloatTy(), {b.getFloatTy()}, false);
  auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, *module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
  b.CreateRet(b.CreateFAdd(f->getArg(0), llvm::ConstantFP::get(b.getFloatTy(), 1.0)));
  return module;
}

// f(x) = x + host_bias(), host_bias resolved wherever the module is added.
std::unique_ptr<llvm::Module> add_bias_module(Jit& jit, llvm::LLVMContext& ctx, const std::string& name) {
  auto module = jit.new_module(name, ctx);
  llvm::IRBuilder<> builder(ctx);
  auto* bias = llvm::Function::Create(llvm::FunctionType::get(builder.getFloatTy(), false),
                                      llvm::Function::ExternalLinkage, "host_bias", *module);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(builder.getFloatTy(), {builder.getFloatTy()}, false),
                                   llvm::Function::ExternalLinkage, "f", *module);
  builder.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
  builder.CreateRet(builder.CreateFAdd(f->getArg(0), builder.CreateCall(bias)));
  return module;
}

}  // namespace

TEST_CASE("jit: targets the host CPU", "[llvm]") {
  Jit jit;
  CHECK_FALSE(jit.cpu_name().empty());
  CHECK_FALSE(jit.cpu_features().empty());
  CHECK(jit.target_machine().getTargetCPU().str() == jit.cpu_name());
  CHECK(jit.triple().getArch() != llvm::Triple::UnknownArch);
  CHECK(jit.data_layout().getPointerSize() == sizeof(void*));
  if (jit.has_feature("avx512f")) {
    CHECK(jit.prefer_vector_width() == 512);
  } else {
    CHECK(jit.prefer_vector_width() == 0);
  }
  CHECK_FALSE(jit.has_feature("not-a-feature"));
  CHECK_FALSE(jit.has_feature(""));
}

TEST_CASE("jit: features can be turned off", "[llvm]") {
  Jit jit(JitOptions{.features = "-avx512f"});
  CHECK_FALSE(jit.has_feature("avx512f"));
  CHECK(jit.prefer_vector_width() == 0);
}

TEST_CASE("jit: compile and call a function", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  jit.add_module(add_one_module(jit, *tsc.getContext()), tsc);
  auto* f = jit.lookup<float(float)>("add_one");
  REQUIRE(f != nullptr);
  CHECK(f(1.5f) == 2.5f);
  // The pointer-type spelling gives the same function.
  CHECK(jit.lookup<float (*)(float)>("add_one") == f);
}

TEST_CASE("jit: a missing symbol is a JitError naming it", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  jit.add_module(add_one_module(jit, *tsc.getContext()), tsc);
  CHECK_THROWS_AS(jit.lookup<void()>("no_such_kernel"), JitError);
  CHECK_THROWS_WITH(jit.lookup<void()>("no_such_kernel"),
                    Contains("cannot find symbol `no_such_kernel`") && Contains("Symbols not found"));
  // The JIT is still usable afterwards.
  CHECK(jit.lookup<float(float)>("add_one")(0.0f) == 1.0f);
}

TEST_CASE("jit: a call to an undefined external is reported at lookup", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto& ctx = *tsc.getContext();
  auto module = jit.new_module("calls_missing", ctx);
  llvm::IRBuilder<> b(ctx);
  auto* void_fn = llvm::FunctionType::get(b.getVoidTy(), false);
  auto* missing = llvm::Function::Create(void_fn, llvm::Function::ExternalLinkage, "resnetc_missing_helper", *module);
  auto* f = llvm::Function::Create(void_fn, llvm::Function::ExternalLinkage, "calls_missing", *module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
  b.CreateCall(missing);
  b.CreateRetVoid();
  jit.add_module(std::move(module), tsc);
  CHECK_THROWS_WITH(jit.lookup<void()>("calls_missing"), Contains("resnetc_missing_helper"));
}

TEST_CASE("jit: invalid IR is a JitError with the verifier's message", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto& ctx = *tsc.getContext();
  auto module = jit.new_module("broken", ctx);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), false);
  auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, "no_terminator", *module);
  llvm::BasicBlock::Create(ctx, "entry", f);  // a block without a terminator
  CHECK_THROWS_WITH(jit.add_module(std::move(module), tsc),
                    Contains("module `broken` is not valid IR") && Contains("terminator"));
}

TEST_CASE("jit: add_module rejects a module from another context", "[llvm]") {
  Jit jit;
  auto a = Jit::new_context();
  auto b = Jit::new_context();
  CHECK_THROWS_WITH(jit.add_module(add_one_module(jit, *a.getContext()), b), Contains("another LLVMContext"));
  CHECK_THROWS_WITH(jit.add_module(nullptr, a), Contains("null module"));
}

TEST_CASE("jit: optimized_ir is stable and add_module does not optimize twice", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto module = add_one_module(jit, *tsc.getContext());
  std::string first = jit.optimized_ir(*module);
  std::string second = jit.optimized_ir(*module);
  CHECK(first == second);
  CHECK_THAT(first, Contains("define float @add_one(float %0)") || Contains("@add_one("));
  CHECK_THAT(first, Contains("fadd float"));
  jit.add_module(std::move(module), tsc);
  CHECK(jit.lookup<float(float)>("add_one")(41.0f) == 42.0f);
}

TEST_CASE("jit: several modules, libm and defined symbols", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto& ctx = *tsc.getContext();
  jit.add_module(add_one_module(jit, ctx, "first"), tsc);
  jit.add_module(add_one_module(jit, ctx, "second"), tsc);
  CHECK(jit.lookup<float(float)>("first")(1.0f) == 2.0f);
  CHECK(jit.lookup<float(float)>("second")(2.0f) == 3.0f);

  // float exp_plus(float x) { return expf(x) + host_bias(); } — expf from libm, host_bias defined.
  static float (*host_bias)() = [] { return 0.5f; };
  jit.define_function("host_bias", host_bias);
  auto module = jit.new_module("calls", ctx);
  llvm::IRBuilder<> b(ctx);
  auto* expf = llvm::Function::Create(llvm::FunctionType::get(b.getFloatTy(), {b.getFloatTy()}, false),
                                      llvm::Function::ExternalLinkage, "expf", *module);
  auto* bias = llvm::Function::Create(llvm::FunctionType::get(b.getFloatTy(), false), llvm::Function::ExternalLinkage,
                                      "host_bias", *module);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(b.getFloatTy(), {b.getFloatTy()}, false),
                                   llvm::Function::ExternalLinkage, "exp_plus", *module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
  b.CreateRet(b.CreateFAdd(b.CreateCall(expf, {f->getArg(0)}), b.CreateCall(bias)));
  jit.add_module(std::move(module), tsc);
  CHECK(jit.lookup<float(float)>("exp_plus")(1.0f) == Approx(std::exp(1.0f) + 0.5f));

  // Defining a symbol twice is an error, not a crash.
  CHECK_THROWS_AS(jit.define_function("host_bias", host_bias), JitError);
}

TEST_CASE("jit: a symbol defined in a library resolves there only", "[llvm]") {
  Jit jit;
  static float (*half)() = [] { return 0.5f; };
  static float (*quarter)() = [] { return 0.25f; };
  Jit::Library& a = jit.new_library("a");
  Jit::Library& b = jit.new_library("b");
  jit.define_function("host_bias", half, &a);
  jit.define_function("host_bias", quarter, &b);  // the same name in another library: no clash

  // f(x) = x + host_bias() in each library, each calling its own library's definition.
  auto tsc = Jit::new_context();
  auto& ctx = *tsc.getContext();
  for (Jit::Library* library : {&a, &b}) jit.add_module(add_bias_module(jit, ctx, "calls"), tsc, library);
  CHECK(jit.lookup<float(float)>("f", &a)(1.0f) == 1.5f);
  CHECK(jit.lookup<float(float)>("f", &b)(1.0f) == 1.25f);
  CHECK_THROWS_WITH(jit.lookup_address("host_bias"), Contains("cannot find symbol `host_bias`"));  // not in main
  CHECK_THROWS_AS(jit.define_function("host_bias", half, &a), JitError);
}

TEST_CASE("jit: libraries keep apart symbols of the same name and see the main library's", "[llvm]") {
  Jit jit;
  static float (*host_bias)() = [] { return 0.5f; };
  jit.define_function("host_bias", host_bias);
  Jit::Library& a = jit.new_library("a");
  Jit::Library& b = jit.new_library("b");

  // f(x) = x + 1 in a; f(x) = x + host_bias() in b, calling what the main library defines.
  auto tsc = Jit::new_context();
  auto& ctx = *tsc.getContext();
  jit.add_module(add_one_module(jit, ctx, "f"), tsc, &a);
  jit.add_module(add_bias_module(jit, ctx, "b"), tsc, &b);

  CHECK(jit.lookup<float(float)>("f", &a)(1.0f) == 2.0f);
  CHECK(jit.lookup<float(float)>("f", &b)(1.0f) == 1.5f);
  CHECK_THROWS_WITH(jit.lookup<float(float)>("f"), Contains("cannot find symbol `f`"));  // not in main
  CHECK_THROWS_WITH(jit.new_library("a"), Contains("cannot create library `a`"));
}
