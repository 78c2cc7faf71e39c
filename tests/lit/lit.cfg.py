# lit configuration of resnetc's FileCheck tests: the `resnetc` binary's --emit=ir, --emit=plan
# and --print-after output, from .net and .ir inputs. Run by the `lit` CTest entry
# (tests/lit/CMakeLists.txt), or by hand:
#   /usr/lib/llvm-14/build/utils/lit/lit.py -sv tests/lit \
#       --param resnetc=build/tools/resnetc/resnetc --param filecheck=/usr/bin/FileCheck-14
import os
import tempfile

import lit.formats

config.name = "resnetc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".test", ".ir"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
# %t files go to the build tree (or a temporary directory), never into the sources.
config.test_exec_root = lit_config.params.get("exec_root") or os.path.join(tempfile.gettempdir(), "resnetc-lit")


def required_param(name):
    value = lit_config.params.get(name)
    if not value:
        lit_config.fatal(f"pass --param {name}=PATH")
    return os.path.abspath(value)


resnetc = required_param("resnetc")
filecheck = required_param("filecheck")
source_dir = os.path.dirname(os.path.dirname(config.test_source_root))

config.substitutions.append(("%resnetc", resnetc))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%examples", os.path.join(source_dir, "examples")))
# `FileCheck` in a RUN line is the one CMake found (Debian names it FileCheck-14).
config.substitutions.append((r"\bFileCheck\b", filecheck))
# `not` is lit's built-in; the cache directory keeps test runs from writing to $HOME.
config.environment["XDG_CACHE_HOME"] = os.path.join(config.test_exec_root, "cache")
