#pragma once
// An op family file, compiler/ops/<family>.cpp, holds everything about its kinds that is not a
// backend kernel, in one section per layer: the shape rules, parameters and kind checks (ir),
// the gradients (autodiff), and how the reference executor runs them (reference). Each of those
// libraries compiles every family file with its own macro (compiler/CMakeLists.txt), so a
// section includes only its own layer's headers and the libraries keep their order: resnetc_ir
// never sees autodiff or the reference executor. Every op kind's rules are in one family file;
// RESNETC_OP_FAMILIES (compiler/CMakeLists.txt) lists the files, and docs/architecture.md, "The
// op table", which kinds each holds and why the files are built this way.
#if defined(RESNETC_OPS_IR) + defined(RESNETC_OPS_AUTODIFF) + defined(RESNETC_OPS_REFERENCE) != 1
#error "an op family file is compiled as part of one layer: define one of RESNETC_OPS_IR, _AUTODIFF, _REFERENCE"
#endif
