#include "cli/manpage.h"

#include <cstdio>

#include <fmt/format.h>

#include "util/build_info.h"
#include "util/config.h"
#include "util/paths.h"

namespace chimera::cli {
namespace {

// Text as roff shows it literally: backslashes escaped, hyphens as \- (so options can be searched
// and copied), and a line that would start with a control character protected.
std::string roff(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
  return out;
}

// Variables that are not configuration keys but change what Chimera does.
struct Variable {
  const char* name;
  const char* meaning;
};
constexpr Variable kOtherVariables[] = {
    {"CHIMERA_CONFIG", "the config file to read instead of the XDG one"},
    {"XDG_CONFIG_HOME", "where chimera/config.toml is looked for (default ~/.config)"},
    {"CHIMERA_CACHE_DIR",
     "cache of synthesized models and fetched vocabularies (default $XDG_CACHE_HOME/chimera, "
     "~/.cache/chimera)"},
    {"CHIMERA_DATA_DIR",
     "folder of the results database (default $XDG_DATA_HOME/chimera, ~/.local/share/chimera)"},
    {"CHIMERA_PROFILES_DIR", "one more folder of profiles (NAME.toml)"},
    {"CHIMERA_ROLES_DIR", "one more folder of roles (NAME.toml)"},
    {"CHIMERA_SHARE_DIR", "the folder of the shipped profiles, roles and example data"},
    {"CHIMERA_VOCAB_DIR", "real tokenizer vocabularies (scripts/fetch-vocab.sh)"},
    {"CHIMERA_API_KEY", "the key chimera serve requires when --api-key is not given"},
    {"OPENAI_API_KEY", "the bearer token sent to openai:// backends"},
    {"CHIMERA_KERNEL", "force a kernel path: scalar, avx2, avx512 or avx512vnni"},
    {"CHIMERA_INTERLEAVE", "0 keeps quantized weights as mapped from the file (no VNNI repack)"},
    {"CHIMERA_HUGE_PAGES", "0 keeps the other weights in the file's mapping (no 2 MiB pages)"},
    {"CHIMERA_PREFILL_MIN_TOKENS", "the batch size from which prompt kernels are used"},
    {"CHIMERA_LOG", "log level on stderr: error, warn (default), info, debug, trace"},
    {"NO_COLOR", "no colour in terminal output"},
};

std::string option_line(const CLI::Option& o, const std::string& data_default) {
  std::string line;
  if (o.get_positional()) {  // an argument, not a flag: its name in italics, as SYNOPSIS writes it
    line = "\\fI" + roff(o.get_name(true)) + "\\fR";
  } else {
    line = "\\fB" + roff(o.get_name(false, true)) + "\\fR";
    const std::string type = o.get_type_name();
    if (o.get_items_expected_max() != 0 && !type.empty()) line += " \\fI" + roff(type) + "\\fR";
  }
  std::string value = o.get_default_str();
  if (!value.empty() && value == data_default) value = "the example data installed with Chimera";
  if (!value.empty()) line += " (default: " + roff(value) + ")";
  if (o.get_required()) line += " (required)";
  return line;
}

void render_command(const CLI::App& app, const std::string& path, const std::string& data_default,
                    std::string& out) {
  out += fmt::format(".SS \"{}\"\n{}\n", roff(path), roff(app.get_description()));
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty() || o->get_name(false, true) == "-h,--help") continue;
    out += ".TP\n" + option_line(*o, data_default) + "\n" + roff(o->get_description()) + "\n";
  }
  if (!app.get_footer().empty()) out += ".PP\n" + roff(app.get_footer()) + "\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) {
         return !s->get_group().empty();
       })) {
    render_command(*sub, path + " " + sub->get_name(), data_default, out);
  }
}

}  // namespace

std::string render_manpage(const CLI::App& app) {
  const BuildInfo& build = build_info();
  const std::string data_default = default_data_folder();
  std::string out;
  out += fmt::format(".TH CHIMERA 1 \"\" \"chimera {}\" \"User Commands\"\n", build.version);
  std::string summary = app.get_description();  // "Chimera: what it is"
  if (summary.rfind("Chimera: ", 0) == 0) summary = summary.substr(9);
  out += ".SH NAME\nchimera \\- " + roff(summary) + "\n";
  out += ".SH SYNOPSIS\n\\fBchimera\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.br\n"
         "\\fBchimera\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR\n.br\n\\fBchimera \\-\\-version\\fR\n";
  out +=
      ".SH DESCRIPTION\n"
      "Chimera is one program for people who run LLMs on their own machines. "
      "\\fBchimera run\\fR ingests a folder of benchmark data and has two agents (a baseline "
      "configuration and a tuned \"Chimera\" one) write grounded reports about it, measuring every "
      "call and comparing the two with statistics. \\fBchimera bench\\fR, \\fBtune\\fR and "
      "\\fBagents\\fR measure any backend: TTFT, prefill and decode tokens/s, inter\\-token "
      "latency percentiles, each figure tagged measured, derived, expected or synthetic. An "
      "embedded engine runs GGUF models (Gemma 3, Llama 3.x) in the process, so everything works "
      "without a server, and \\fBchimera serve\\fR offers it over the Ollama and OpenAI HTTP APIs.\n"
      ".PP\n"
      "Backends are named \\fBembedded:\\fR\\fIPATH.gguf\\fR, "
      "\\fBollama://\\fR\\fIHOST:PORT/MODEL\\fR, \\fBopenai://\\fR\\fIHOST:PORT/MODEL\\fR (vLLM, "
      "llama.cpp's server, any OpenAI\\-compatible server) or \\fBollama:\\fR\\fINAME:TAG\\fR (a model "
      "of the local Ollama store, run by the embedded engine). Model options take Ollama's names "
      "in kebab case: \\fB\\-\\-num\\-ctx 4096 \\-\\-temperature 0.4\\fR.\n"
      ".PP\n"
      "The user guide is in /usr/share/doc/chimera (or PREFIX/share/doc/chimera): one page per "
      "command, the metric definitions, the file formats and the architecture notes.\n";
  out += ".SH COMMANDS\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) {
         return !s->get_group().empty();
       })) {
    render_command(*sub, "chimera " + sub->get_name(), data_default, out);
  }
  out +=
      ".SH CONFIGURATION\n"
      "Defaults people would otherwise retype live in \\fI~/.config/chimera/config.toml\\fR "
      "($XDG_CONFIG_HOME/chimera/config.toml, or the file $CHIMERA_CONFIG names). A flag on the "
      "command line wins over the environment variable, which wins over the file. "
      "\\fBchimera config show\\fR prints every value and where it came from; \\fBchimera config "
      "init\\fR writes a commented file. The keys:\n";
  for (const SettingSpec& s : setting_specs()) {
    out += fmt::format(".TP\n\\fB{}\\fR (environment \\fB{}\\fR; used by {})\n{}\n", roff(s.key),
                       roff(s.env_var), roff(s.used_by), roff(s.meaning));
  }
  out += ".SH ENVIRONMENT\nBesides the variables of the keys above:\n";
  for (const Variable& v : kOtherVariables) {
    out += fmt::format(".TP\n\\fB{}\\fR\n{}\n", roff(v.name), roff(v.meaning));
  }
  out +=
      ".SH FILES\n"
      ".TP\n\\fI~/.config/chimera/config.toml\\fR\nthe configuration (see CONFIGURATION)\n"
      ".TP\n\\fI~/.config/chimera/profiles/\\fR, \\fI~/.config/chimera/roles/\\fR\n"
      "your own profiles and roles, found by name before the shipped ones\n"
      ".TP\n\\fIPREFIX/share/chimera/\\fR\n"
      "the shipped profiles, roles and example data (the default \\fB\\-\\-data\\fR)\n"
      ".TP\n\\fI~/.local/share/chimera/results.db\\fR\n"
      "the results database (SQLite): every measured call of every session\n"
      ".TP\n\\fI~/.cache/chimera/models/\\fR\nsynthesized dummy\\-weight models\n";
  out +=
      ".SH EXIT STATUS\n"
      ".TP\n0\ndone\n"
      ".TP\n1\nthe command ran and failed (no backend, a server down, every call failed)\n"
      ".TP\n2\nbad flags, arguments or configuration\n"
      ".TP\n3\n\\-\\-strict: the validator found problems in a report\n"
      ".TP\n4\nchimera agents finished, but some calls failed\n"
      ".TP\n130\ninterrupted (Ctrl\\-C); what was measured so far is written\n";
  out += ".SH SEE ALSO\n\\fBollama\\fR(1), \\fBllama\\-server\\fR(1)\n";
  return out;
}

void add_manpage_flag(CLI::App& app) {
  app.add_flag_callback(
         "--manpage",
         [&app] {
           std::fputs(render_manpage(app).c_str(), stdout);
           throw CLI::Success();
         },
         "print the manual page (roff)")
      ->group("");  // hidden: the build uses it
}

}  // namespace chimera::cli
