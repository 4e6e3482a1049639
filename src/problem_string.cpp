// The canonical problem strings (format in include/convkit/params.hpp): printing and parsing.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <vector>
#include <string>

#include "convkit/params.hpp"

namespace convkit {
namespace {

// One "key<number>" or bare word of a problem string, e.g. "ih56" or "max".
struct Token {
  std::string key;
  bool has_value = false;
  int64_t value = 0;
};

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw Error("convkit: cannot parse problem \"" + std::string(text) + "\": " + why);
}

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '_') {
      ++i;
      continue;
    }
    Token t;
    while (i < text.size() && std::islower(static_cast<unsigned char>(text[i]))) t.key += text[i++];
    if (t.key.empty()) {
      bad(text, std::string("unexpected character '") + text[i] + "' at position " + std::to_string(i));
    }
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      const int digit = text[i++] - '0';
      if (t.value > (std::numeric_limits<int64_t>::max() - digit) / 10) bad(text, "the value of " + t.key + " overflows int64");
      t.value = t.value * 10 + digit;
      t.has_value = true;
    }
    tokens.push_back(t);
  }
  if (tokens.empty()) bad(text, "it is empty");
  return tokens;
}

// Assigns each "key<number>" to its field(s); bare words go to `word`.
class FieldSetter {
 public:
  explicit FieldSetter(std::string_view text) : text_(text) {}
  void field(const char* key, int64_t* target) { fields_[key] = {target, nullptr}; }
  void pair(const char* key, int64_t* first, int64_t* second) { fields_[key] = {first, second}; }

  // Returns false for a bare word the caller must interpret.
  bool apply(const Token& t) {
    if (!t.has_value) return false;
    const auto it = fields_.find(t.key);
    if (it == fields_.end()) bad(text_, "unknown field \"" + t.key + "\"");
    for (int64_t* target : {it->second.first, it->second.second}) {
      if (target == nullptr) continue;
      if (!set_.insert(target).second) bad(text_, "field \"" + t.key + "\" is given twice");
      *target = t.value;
    }
    return true;
  }
  bool given(const int64_t* target) const { return set_.count(target) != 0; }
  void require(const char* key, const int64_t* target) const {
    if (!given(target)) bad(text_, std::string("it lacks the field \"") + key + "\"");
  }
  // A missing width takes the height's value, as in benchdnn.
  void default_from(int64_t* target, const int64_t* source) const {
    if (!given(target) && given(source)) *target = *source;
  }

 private:
  std::string_view text_;
  std::map<std::string, std::pair<int64_t*, int64_t*>> fields_;
  std::set<const int64_t*> set_;
};

std::string join(std::initializer_list<std::pair<const char*, int64_t>> fields) {
  std::string s;
  for (const auto& [key, value] : fields) s += key + std::to_string(value);
  return s;
}

}  // namespace

std::string to_string(const Conv2dParams& p) {
  return join({{"mb", p.batch}}) + "_" + join({{"ic", p.in_c}, {"ih", p.in_h}, {"iw", p.in_w}}) + "_" +
         join({{"oc", p.out_c}}) + "_" + join({{"kh", p.kernel_h}, {"kw", p.kernel_w}}) + "_" +
         join({{"sh", p.stride_h}, {"sw", p.stride_w}}) + "_" +
         join({{"pt", p.pad_top}, {"pb", p.pad_bottom}, {"pl", p.pad_left}, {"pr", p.pad_right}}) + "_" +
         join({{"dh", p.dilation_h}, {"dw", p.dilation_w}}) + "_" + join({{"g", p.groups}});
}

std::string to_string(const Pool2dParams& p) {
  return join({{"mb", p.batch}}) + "_" + join({{"c", p.channels}, {"ih", p.in_h}, {"iw", p.in_w}}) + "_" +
         (p.mode == PoolMode::max ? "max" : "avg") + "_" + join({{"kh", p.window_h}, {"kw", p.window_w}}) +
         "_" + join({{"sh", p.stride_h}, {"sw", p.stride_w}}) + "_" +
         join({{"pt", p.pad_top}, {"pb", p.pad_bottom}, {"pl", p.pad_left}, {"pr", p.pad_right}}) +
         (p.count_include_pad ? "_incl" : "") + (p.ceil_mode ? "_ceil" : "");
}

Conv2dParams parse_conv2d(std::string_view text) {
  Conv2dParams p;
  FieldSetter f(text);
  f.field("mb", &p.batch);
  f.field("ic", &p.in_c);
  f.field("ih", &p.in_h);
  f.field("iw", &p.in_w);
  f.field("oc", &p.out_c);
  f.field("kh", &p.kernel_h);
  f.field("kw", &p.kernel_w);
  f.field("sh", &p.stride_h);
  f.field("sw", &p.stride_w);
  f.field("pt", &p.pad_top);
  f.field("pb", &p.pad_bottom);
  f.field("pl", &p.pad_left);
  f.field("pr", &p.pad_right);
  f.pair("ph", &p.pad_top, &p.pad_bottom);
  f.pair("pw", &p.pad_left, &p.pad_right);
  f.field("dh", &p.dilation_h);
  f.field("dw", &p.dilation_w);
  f.field("g", &p.groups);
  for (const Token& t : tokenize(text)) {
    if (!f.apply(t)) bad(text, "\"" + t.key + "\" needs a number");
  }
  f.require("ic", &p.in_c);
  f.require("ih", &p.in_h);
  f.require("oc", &p.out_c);
  f.default_from(&p.in_w, &p.in_h);
  f.default_from(&p.kernel_w, &p.kernel_h);
  f.default_from(&p.stride_w, &p.stride_h);
  f.default_from(&p.dilation_w, &p.dilation_h);
  return p;
}

Pool2dParams parse_pool2d(std::string_view text) {
  Pool2dParams p;
  FieldSetter f(text);
  f.field("mb", &p.batch);
  f.field("c", &p.channels);
  f.field("ih", &p.in_h);
  f.field("iw", &p.in_w);
  f.field("kh", &p.window_h);
  f.field("kw", &p.window_w);
  f.field("sh", &p.stride_h);
  f.field("sw", &p.stride_w);
  f.field("pt", &p.pad_top);
  f.field("pb", &p.pad_bottom);
  f.field("pl", &p.pad_left);
  f.field("pr", &p.pad_right);
  f.pair("ph", &p.pad_top, &p.pad_bottom);
  f.pair("pw", &p.pad_left, &p.pad_right);
  bool mode_given = false;
  for (const Token& t : tokenize(text)) {
    if (f.apply(t)) continue;
    const bool is_mode = t.key == "max" || t.key == "avg";
    if (is_mode && mode_given) bad(text, "the mode is given twice");
    if (t.key == "max") {
      p.mode = PoolMode::max;
    } else if (t.key == "avg") {
      p.mode = PoolMode::average;
    } else if (t.key == "incl") {
      p.count_include_pad = true;
    } else if (t.key == "ceil") {
      p.ceil_mode = true;
    } else {
      bad(text, "unknown word \"" + t.key + "\" (expected max, avg, incl, ceil or a field with a number)");
    }
    mode_given = mode_given || is_mode;
  }
  f.require("c", &p.channels);
  f.require("ih", &p.in_h);
  f.default_from(&p.in_w, &p.in_h);
  f.default_from(&p.window_w, &p.window_h);
  f.default_from(&p.stride_w, &p.stride_h);
  return p;
}

}  // namespace convkit
