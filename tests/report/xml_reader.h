// A small strict XML reader for tests: it parses the SVG we write back into elements so tests can
// check well-formedness (balanced tags, quoted attributes, known entities, one root) and query what
// was drawn. Written independently of the renderer under test.
#pragma once

#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chimera::testing {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<std::unique_ptr<XmlElement>> children;
  std::string text;  // concatenated character data directly inside this element, entities decoded

  // Every descendant (and this element) named `tag`, in document order.
  void collect(std::string_view tag, std::vector<const XmlElement*>& out) const {
    if (name == tag) out.push_back(this);
    for (const auto& c : children) c->collect(tag, out);
  }
  std::vector<const XmlElement*> all(std::string_view tag) const {
    std::vector<const XmlElement*> out;
    collect(tag, out);
    return out;
  }
};

class XmlReader {
 public:
  // Returns the root element, or nullopt with `error` set.
  static std::unique_ptr<XmlElement> parse(std::string_view text, std::string& error) {
    XmlReader r(text);
    auto root = r.document();
    if (!root) error = r.error_ + " at offset " + std::to_string(r.pos_);
    return root;
  }

 private:
  explicit XmlReader(std::string_view text) : s_(text) {}

  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool starts(std::string_view p) const { return s_.substr(pos_, p.size()) == p; }
  bool skip_misc() {  // comments, processing instructions, whitespace
    while (true) {
      skip_space();
      if (starts("<!--")) {
        size_t end = s_.find("-->", pos_);
        if (end == std::string_view::npos) return fail("unterminated comment");
        pos_ = end + 3;
      } else if (starts("<?")) {
        size_t end = s_.find("?>", pos_);
        if (end == std::string_view::npos) return fail("unterminated processing instruction");
        pos_ = end + 2;
      } else {
        return true;
      }
    }
  }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' ||
           c == '.';
  }
  std::string name() {
    size_t start = pos_;
    while (pos_ < s_.size() && name_char(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  bool decode(std::string_view raw, std::string& out) {
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '<') return fail("'<' inside text or attribute");
      if (raw[i] != '&') {
        out += raw[i];
        continue;
      }
      size_t semi = raw.find(';', i);
      if (semi == std::string_view::npos) return fail("'&' without ';'");
      std::string_view entity = raw.substr(i + 1, semi - i - 1);
      static const std::map<std::string_view, char> kNamed = {
          {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
      if (auto it = kNamed.find(entity); it != kNamed.end()) {
        out += it->second;
      } else if (entity.size() > 1 && entity[0] == '#') {
        out += static_cast<char>(std::stoi(std::string(entity.substr(1))));
      } else {
        return fail("unknown entity &" + std::string(entity) + ";");
      }
      i = semi;
    }
    return true;
  }
  std::unique_ptr<XmlElement> element() {
    if (!starts("<")) return fail("expected '<'"), nullptr;
    ++pos_;
    auto e = std::make_unique<XmlElement>();
    e->name = name();
    if (e->name.empty()) return fail("element without a name"), nullptr;
    while (true) {
      skip_space();
      if (starts("/>")) {
        pos_ += 2;
        return e;
      }
      if (starts(">")) {
        ++pos_;
        break;
      }
      std::string attr = name();
      if (attr.empty()) return fail("bad attribute in <" + e->name + ">"), nullptr;
      skip_space();
      if (!starts("=")) return fail("attribute " + attr + " without '='"), nullptr;
      ++pos_;
      skip_space();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) {
        return fail("unquoted attribute " + attr), nullptr;
      }
      char quote = s_[pos_++];
      size_t end = s_.find(quote, pos_);
      if (end == std::string_view::npos) return fail("unterminated attribute " + attr), nullptr;
      std::string value;
      if (!decode(s_.substr(pos_, end - pos_), value)) return nullptr;
      if (!e->attributes.emplace(attr, value).second) {
        return fail("duplicate attribute " + attr), nullptr;
      }
      pos_ = end + 1;
    }
    while (true) {
      size_t lt = s_.find('<', pos_);
      if (lt == std::string_view::npos) return fail("unclosed <" + e->name + ">"), nullptr;
      if (!decode(s_.substr(pos_, lt - pos_), e->text)) return nullptr;
      pos_ = lt;
      if (starts("</")) {
        pos_ += 2;
        std::string closing = name();
        if (closing != e->name) {
          return fail("</" + closing + "> closes <" + e->name + ">"), nullptr;
        }
        skip_space();
        if (!starts(">")) return fail("bad closing tag"), nullptr;
        ++pos_;
        return e;
      }
      if (starts("<!--")) {
        if (!skip_misc()) return nullptr;
        continue;
      }
      auto child = element();
      if (!child) return nullptr;
      e->children.push_back(std::move(child));
    }
  }
  std::unique_ptr<XmlElement> document() {
    if (!skip_misc()) return nullptr;
    auto root = element();
    if (!root) return nullptr;
    if (!skip_misc()) return nullptr;
    if (pos_ != s_.size()) return fail("content after the root element"), nullptr;
    return root;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace chimera::testing
