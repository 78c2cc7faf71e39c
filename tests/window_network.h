#pragma once
// A small network written with issue 11's window attributes, for whole training steps on
// every backend: rectangular and dilated convs, maxpool with ceil_mode, ResNet-D's pooled
// shortcut (avgpool ceil_mode, count_include_pad=0) whose size matches the strided branch's
// only because of ceil_mode (6x5 -> 3x3), and global max pooling.
namespace resnetc::testing {

inline constexpr const char* kWindowNetwork = R"(
block bottleneck_d(planes, stride = 1) {
  let out = planes * 4
  branch {
    conv planes k1; bn; relu
    conv planes k3 stride=stride p1; bn; relu
    conv out k1; bn
  }
  shortcut if stride != 1 or in != out {
    avgpool k=stride s=stride ceil_mode count_include_pad=0
    conv out k1; bn
  }
  post { relu }
}
network windows {
  input 2x11x9
  stem { conv 4 k1x5 p0x2; bn; relu; conv 5 k3 d2 p2; bn; relu; maxpool k2 s2 ceil_mode }
  stage bottleneck_d 2 stride=2
  head { maxpool; fc 4 }
})";

// Global max pooling after a plain stage: its gradient reaches every block.
inline constexpr const char* kGlobalMaxPoolNetwork = R"(
network gmp {
  input 2x9x7
  stem { conv 5 k3 p1; bn; relu }
  stage basic 6 stride=2
  head { maxpool; fc 4 }
})";

}  // namespace resnetc::testing
