// Fuzz target: the configuration parser and validator on arbitrary YAML text, as `taprec --check`
// runs them (parse, then validate what parsed, then print the plan).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "config/parse.hpp"
#include "config/plan.hpp"
#include "config/validate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const taprec::ParseResult parsed = taprec::parse_config_text(text, "fuzz.yaml");
    for (const taprec::ConfigError& e : parsed.errors) (void)e.to_string();
    if (!parsed.ok()) return 0;
    const auto errors = taprec::validate_config(parsed.config);
    for (const taprec::ConfigError& e : errors) (void)e.to_string();
    if (errors.empty()) {
        std::ostringstream out;
        const taprec::RunPlan plan = taprec::make_plan(parsed.config, taprec::MachineFacts{});
        for (const taprec::ConfigError& e : taprec::plan_errors(parsed.config, plan)) (void)e.to_string();
        taprec::print_plan(parsed.config, plan, out);
    }
    return 0;
}
