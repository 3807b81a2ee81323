// Stop strings over streamed text: held back while they might be starting, cut where they appear.
#include <gtest/gtest.h>

#include "server/stop_matcher.h"

namespace kestrel::server {
namespace {

std::string feed(StopMatcher& m, const std::vector<std::string>& parts, std::vector<std::string>* sent = nullptr) {
  std::string out;
  for (const auto& p : parts) {
    std::string s = m.push(p);
    if (sent) sent->push_back(s);
    out += s;
  }
  return out + m.flush();
}

TEST(StopMatcher, CutsAtTheFirstStopStringAcrossPieces) {
  StopMatcher m({"\n\n", "END"});
  std::vector<std::string> sent;
  EXPECT_EQ(feed(m, {"Hello", " wor", "ld\n", "\nmore"}, &sent), "Hello world");
  EXPECT_TRUE(m.hit());
  EXPECT_EQ(sent[2], "ld");  // the "\n" was held: it might start "\n\n"
  EXPECT_EQ(m.push("after"), "");
}

TEST(StopMatcher, ReleasesWhatTurnsOutNotToBeAStop) {
  StopMatcher m({"END"});
  std::vector<std::string> sent;
  EXPECT_EQ(feed(m, {"the E", "N", "D", "x"}, &sent), "the ");
  StopMatcher n({"END"});
  EXPECT_EQ(feed(n, {"the E", "NX", "EN"}), "the ENXEN");  // flush returns the held "EN"
  EXPECT_FALSE(n.hit());
}

TEST(StopMatcher, EarliestOfSeveralAndEmptyStops) {
  StopMatcher m({"cd", "b", ""});
  EXPECT_EQ(feed(m, {"abcd"}), "a");
  StopMatcher none({});
  EXPECT_EQ(feed(none, {"a", "b"}), "ab");
  StopMatcher overlap({"aab"});
  EXPECT_EQ(feed(overlap, {"a", "a", "a", "b", "c"}), "a");
}

}  // namespace
}  // namespace kestrel::server
