#include "mini_json.hpp"

#include <cctype>
#include <cstdlib>

namespace test_support {
namespace {

struct Parser {
    const std::string& s;
    size_t i = 0;

    void skip() {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    }
    void expect(char c) {
        skip();
        if (i >= s.size() || s[i] != c)
            throw std::runtime_error(std::string("json: expected '") + c + "' at " +
                                     std::to_string(i) + " in " + s);
        ++i;
    }
    std::string string_value() {
        expect('"');
        std::string out;
        while (i < s.size() && s[i] != '"') {
            if (s[i] == '\\' && i + 1 < s.size()) {
                ++i;
                switch (s[i]) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'u': out += '?'; i += 4; break;
                default: out += s[i];
                }
                ++i;
                continue;
            }
            out += s[i++];
        }
        expect('"');
        return out;
    }
    Json value() {
        skip();
        Json j;
        if (i >= s.size()) throw std::runtime_error("json: unexpected end");
        const char c = s[i];
        if (c == '{') {
            j.kind = Json::Kind::object;
            ++i;
            skip();
            if (s[i] == '}') { ++i; return j; }
            while (true) {
                std::string key = string_value();
                expect(':');
                j.members[key] = value();
                skip();
                if (s[i] == ',') { ++i; continue; }
                expect('}');
                return j;
            }
        }
        if (c == '[') {
            j.kind = Json::Kind::array;
            ++i;
            skip();
            if (s[i] == ']') { ++i; return j; }
            while (true) {
                j.items.push_back(value());
                skip();
                if (s[i] == ',') { ++i; continue; }
                expect(']');
                return j;
            }
        }
        if (c == '"') {
            j.kind = Json::Kind::string;
            j.text = string_value();
            return j;
        }
        if (s.compare(i, 4, "true") == 0) { i += 4; j.kind = Json::Kind::boolean; j.boolean = true; return j; }
        if (s.compare(i, 5, "false") == 0) { i += 5; j.kind = Json::Kind::boolean; return j; }
        if (s.compare(i, 4, "null") == 0) { i += 4; return j; }
        char* end = nullptr;
        j.kind = Json::Kind::number;
        j.number = std::strtod(s.c_str() + i, &end);
        if (end == s.c_str() + i) throw std::runtime_error("json: bad value at " + std::to_string(i));
        i = size_t(end - s.c_str());
        return j;
    }
};

}  // namespace

const Json& Json::at(const std::string& path) const {
    const Json* node = this;
    size_t start = 0;
    while (start <= path.size()) {
        const size_t dot = path.find('.', start);
        const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        auto it = node->members.find(key);
        if (it == node->members.end()) throw std::runtime_error("json: no member " + path);
        node = &it->second;
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return *node;
}

bool Json::has(const std::string& path) const {
    try {
        at(path);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

Json parse_json(const std::string& text) {
    Parser p{text};
    return p.value();
}

}  // namespace test_support
