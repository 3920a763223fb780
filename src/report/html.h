// HTML rendering: a Markdown subset to HTML, and a self-contained page (inline CSS, inline SVG, no
// scripts, no external URLs) that opens offline in any browser.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace chimera::report {

// Escapes &, <, >, " and ' for text and attribute values.
std::string html_escape(std::string_view text);

// Converts the Markdown our reports contain (ATX headings, paragraphs, nested lists, pipe tables,
// fenced code, block quotes, rules, **bold**, *italic*, `code`, links) to HTML. Raw HTML in the
// input is escaped, never passed through: the text may come from an LLM. Links and images are
// rendered as text (with the address shown) so the page never loads or points at anything outside.
// Heading ids are prefixed with `id_prefix` so several documents can share one page.
std::string markdown_to_html(std::string_view markdown, std::string_view id_prefix = {});

// "Executive Summary" -> "executive-summary".
std::string slugify(std::string_view text);

struct HtmlSection {
  std::string id;         // anchor, unique within the page
  std::string title;      // shown in the navigation and as the section heading
  std::string body_html;  // already HTML (from markdown_to_html, or inline SVG)
};

class HtmlPage {
 public:
  explicit HtmlPage(std::string title) : title_(std::move(title)) {}
  void set_subtitle(std::string subtitle) { subtitle_ = std::move(subtitle); }
  void add_section(HtmlSection section) { sections_.push_back(std::move(section)); }
  // The whole document: doctype, inline stylesheet, navigation, sections.
  std::string render() const;

 private:
  std::string title_;
  std::string subtitle_;
  std::vector<HtmlSection> sections_;
};

}  // namespace chimera::report
