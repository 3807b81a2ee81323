// ISA selection: names, support queries, forcing by name and errors for unknown/unsupported names.
#include <gtest/gtest.h>

#include <string>

#include "kernels/isa.h"

namespace kestrel::kernels {
namespace {

TEST(Isa, NamesRoundTrip) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (!isa_supported(isa)) continue;
    ASSERT_TRUE(select_isa(isa_name(isa)).is_ok()) << isa_name(isa);
    EXPECT_EQ(active_isa(), isa);
  }
  ASSERT_TRUE(select_isa(isa_name(best_isa())).is_ok());
}

TEST(Isa, ScalarAlwaysSupportedAndBestIsSupported) {
  EXPECT_TRUE(isa_supported(Isa::Scalar));
  EXPECT_TRUE(isa_supported(best_isa()));
#if defined(__x86_64__)
  EXPECT_FALSE(isa_supported(Isa::Neon));
  if (isa_supported(Isa::Avx512)) {
    EXPECT_TRUE(isa_supported(Isa::Avx2));
    EXPECT_EQ(best_isa(), Isa::Avx512);
  }
#endif
}

TEST(Isa, UnknownNameIsAnError) {
  const Isa before = active_isa();
  const Status s = select_isa("avx1024");
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("avx1024"), std::string::npos) << s.message();
  EXPECT_EQ(active_isa(), before);
}

TEST(Isa, UnsupportedNameIsAnError) {
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (isa_supported(isa)) continue;
    const Status s = select_isa(isa_name(isa));
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("not supported"), std::string::npos) << s.message();
  }
}

TEST(Isa, InitFromEnvIsIdempotent) {
  // The test runner may set KESTREL_ISA; either way the call succeeds for supported names.
  const Status s = init_isa_from_env();
  EXPECT_TRUE(s.is_ok()) << s.message();
  EXPECT_TRUE(init_isa_from_env().is_ok());
  EXPECT_TRUE(isa_supported(active_isa()));
}

}  // namespace
}  // namespace kestrel::kernels
