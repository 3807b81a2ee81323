#pragma once
// Stop strings over streamed text: text that could be the start of a stop string is held back until
// it is known not to be one, and output ends just before the first stop string that appears.
#include <string>
#include <vector>

namespace kestrel::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Adds generated text; returns what can be sent now. After a stop string, hit() is true and
  // nothing more is returned.
  std::string push(const std::string& text);
  std::string flush();  // the held-back text (generation ended without a stop string)
  bool hit() const { return hit_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool hit_ = false;
};

}  // namespace kestrel::server
