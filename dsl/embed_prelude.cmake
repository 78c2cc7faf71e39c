# Turns prelude.net into a C++ source holding its text, so the binary needs no data files.
file(READ "${INPUT}" text HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${text}")
file(WRITE "${OUTPUT}" "// Generated from dsl/prelude.net; do not edit.\nnamespace resnetc::dsl {\nextern const char kPreludeText[] = {${bytes} '\\0'};\n}\n")
