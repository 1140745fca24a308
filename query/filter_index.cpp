#include "query/filter_index.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <stdexcept>

namespace taprec {

namespace bi = block_index;

// Thrown for anything outside the understood subset: the filter then skips no block.
struct NotUnderstood : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace {

std::vector<std::string> tokenize(const std::string& text) {
    std::vector<std::string> tokens;
    size_t i = 0;
    auto word_char = [](char c) {
        return std::isalnum(uint8_t(c)) || c == '.' || c == ':' || c == '-' || c == '_' ||
               c == '\\' || c == '/';
    };
    while (i < text.size()) {
        const char c = text[i];
        if (std::isspace(uint8_t(c))) {
            ++i;
        } else if (word_char(c)) {
            size_t j = i;
            while (j < text.size() && word_char(text[j])) ++j;
            tokens.push_back(text.substr(i, j - i));
            i = j;
        } else {
            // Operators: the two-character ones first.
            static const char* const two[] = {"&&", "||", "!=", "==", "<=", ">=", "<<", ">>"};
            std::string op(1, c);
            for (const char* t : two)
                if (text.compare(i, 2, t) == 0) op = t;
            tokens.push_back(op);
            i += op.size();
        }
    }
    return tokens;
}

bool is_and(const std::string& t) { return t == "and" || t == "&&"; }
bool is_or(const std::string& t) { return t == "or" || t == "||"; }

// IP protocol numbers of libpcap's protocol keywords.
int protocol_number(const std::string& word) {
    if (word == "tcp") return 6;
    if (word == "udp") return 17;
    if (word == "sctp") return 132;
    if (word == "icmp") return 1;
    if (word == "icmp6") return 58;
    if (word == "igmp") return 2;
    return -1;
}

bool parse_number(const std::string& text, uint32_t max, uint32_t& value) {
    if (text.empty() || text.size() > 10) return false;
    uint64_t v = 0;
    for (char c : text) {
        if (!std::isdigit(uint8_t(c))) return false;
        v = v * 10 + uint64_t(c - '0');
    }
    if (v > max) return false;
    value = uint32_t(v);
    return true;
}

}  // namespace

class FilterParser {
public:
    FilterParser(FilterIndex& out, std::vector<std::string> tokens)
        : out_(out), tokens_(std::move(tokens)) {}

    int parse() {
        const int root = expression();
        if (at_ != tokens_.size()) throw NotUnderstood("'" + tokens_[at_] + "' where it was not expected");
        return root;
    }
    int vlan_nodes() const { return vlan_nodes_; }

private:
    const std::string& peek(size_t ahead = 0) const {
        static const std::string end;
        return at_ + ahead < tokens_.size() ? tokens_[at_ + ahead] : end;
    }
    const std::string& take() {
        if (at_ >= tokens_.size()) throw NotUnderstood("the filter ends early");
        return tokens_[at_++];
    }
    bool at_end_of_primitive() const {
        const std::string& t = peek();
        return t.empty() || is_and(t) || is_or(t) || t == ")";
    }

    int add(FilterIndex::Node node) {
        node.after_vlan = node.after_vlan || seen_vlan_;
        out_.nodes_.push_back(std::move(node));
        return int(out_.nodes_.size()) - 1;
    }
    int always() { return add({}); }
    int both(int a, int b) {
        FilterIndex::Node n;
        n.kind = FilterIndex::Kind::all_of;
        n.children = {a, b};
        return add(n);
    }
    int either(int a, int b) {
        FilterIndex::Node n;
        n.kind = FilterIndex::Kind::any_of;
        n.children = {a, b};
        return add(n);
    }
    int flag(uint32_t f) {
        FilterIndex::Node n;
        n.kind = FilterIndex::Kind::flag;
        n.flag = f;
        return add(n);
    }
    int protocol(uint8_t p) {
        FilterIndex::Node n;
        n.kind = FilterIndex::Kind::protocol;
        n.protocol = p;
        return add(n);
    }
    int keys(std::vector<uint64_t> k) {
        FilterIndex::Node n;
        n.kind = FilterIndex::Kind::key;
        n.keys = std::move(k);
        return add(n);
    }

    // libpcap: `and` and `or` have equal precedence and associate to the left.
    int expression() {
        int left = unary();
        while (is_and(peek()) || is_or(peek())) {
            const bool conjunction = is_and(take());
            const int right = unary();
            left = conjunction ? both(left, right) : either(left, right);
            if (conjunction) out_.nodes_[size_t(left)].after_vlan = false;
        }
        return left;
    }

    int unary() {
        if (peek() == "not" || peek() == "!") {
            take();
            unary();  // parsed for its qualifiers and its vlan, but a negation can match anything
            return always();
        }
        if (peek() == "(") {
            take();
            const int inner = expression();
            if (take() != ")") throw NotUnderstood("unbalanced parentheses");
            return inner;
        }
        return primitive();
    }

    // PROTO[expr] ... relation: the packet has that protocol; the rest is libpcap's to decide.
    int relation(const std::string& proto) {
        int depth = 0;
        while (!peek().empty()) {
            const std::string& t = peek();
            if (t == "(" || t == "[") ++depth;
            if ((t == ")" || t == "]") && depth == 0) break;
            if (t == ")" || t == "]") --depth;
            if (depth == 0 && (is_and(t) || is_or(t))) break;
            take();
        }
        return requirement(proto);
    }

    // What the bare protocol word demands of a packet.
    int requirement(const std::string& proto) {
        if (proto == "ip") return flag(bi::has_ipv4);
        if (proto == "ip6") return flag(bi::has_ipv6);
        if (proto == "arp" || proto == "rarp") return flag(bi::has_arp);
        if (const int p = protocol_number(proto); p >= 0) return protocol(uint8_t(p));
        return always();
    }

    int address(const std::string& proto, const std::string& id) {
        uint8_t bytes[16];
        int node;
        if (::inet_pton(AF_INET, id.c_str(), bytes) == 1) {
            if (proto == "ip6") throw NotUnderstood("ip6 host with an IPv4 address");
            node = keys({bi::ipv4_key(bytes)});
        } else if (::inet_pton(AF_INET6, id.c_str(), bytes) == 1) {
            node = keys({bi::ipv6_key(bytes)});
        } else {
            throw NotUnderstood("'" + id + "' is not an IP address");
        }
        return proto.empty() ? node : both(requirement(proto), node);
    }

    int ports(const std::string& proto, const std::string& type, const std::string& id) {
        uint32_t low = 0, high = 0;
        if (type == "port") {
            if (!parse_number(id, 65535, low)) throw NotUnderstood("port '" + id + "'");
            high = low;
        } else {
            const size_t dash = id.find('-');
            if (dash == std::string::npos || !parse_number(id.substr(0, dash), 65535, low) ||
                !parse_number(id.substr(dash + 1), 65535, high))
                throw NotUnderstood("portrange '" + id + "'");
            if (low > high) std::swap(low, high);
        }
        // A wide range is no use against a Bloom filter of a busy block.
        int node = always();
        if (high - low < 1024) {
            std::vector<uint64_t> k;
            for (uint32_t p = low; p <= high; ++p) k.push_back(bi::port_key(uint16_t(p)));
            node = keys(std::move(k));
        }
        if (proto.empty()) return node;
        if (protocol_number(proto) < 0 && proto != "ip" && proto != "ip6")
            throw NotUnderstood(proto + " port");
        return both(requirement(proto), node);
    }

    int primitive() {
        std::string word = take();
        if (word == "vlan") {
            uint32_t id;
            if (!at_end_of_primitive() && parse_number(peek(), 4095, id)) take();
            const int node = flag(bi::has_vlan);
            out_.nodes_[size_t(node)].after_vlan = seen_vlan_;
            seen_vlan_ = true;
            ++vlan_nodes_;
            out_.nodes_[size_t(node)].protocol = 1;  // marks a vlan node
            return node;
        }
        if (word == "less" || word == "greater") {
            take();
            return always();
        }
        if (word == "len") return relation(word), always();
        // [proto] [dir] [type] [id]
        std::string proto, type;
        bool dir = false;
        static const char* const protos[] = {"ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp",
                                             "icmp", "icmp6", "igmp", "ether"};
        for (const char* p : protos)
            if (word == p) proto = word;
        if (!proto.empty()) {
            if (peek() == "[") return proto == "ether" ? (relation(proto), always()) : relation(proto);
            if (at_end_of_primitive()) {
                if (proto == "ether") throw NotUnderstood("ether alone");
                return requirement(proto);
            }
            word = take();
        }
        if (word == "src" || word == "dst") {
            dir = true;
            // "src or dst host X", "src and dst host X": a qualifier, not a boolean.
            if ((is_and(peek()) || is_or(peek())) && (peek(1) == "src" || peek(1) == "dst")) {
                take();
                take();
            }
            word = take();
        }
        static const char* const types[] = {"host", "net", "port", "portrange", "proto",
                                            "protochain", "gateway", "broadcast", "multicast"};
        for (const char* t : types)
            if (word == t) type = word;
        std::string id;
        if (type.empty()) {
            // A bare id takes the qualifiers of the primitive before it (libpcap's shorthand
            // "port 20 or 21").
            id = word;
            if (!dir && proto.empty()) {
                proto = last_proto_;
                type = last_type_;
            }
            if (type.empty()) type = "host";
        } else if (type != "broadcast" && type != "multicast") {
            id = take();
        }
        if (type == "host" || type == "port" || type == "portrange") {
            last_proto_ = proto;
            last_type_ = type;
        }
        if (proto == "ether" || type == "broadcast" || type == "multicast" || type == "gateway")
            return always();
        if (type == "net") {
            if (peek() == "mask") {
                take();
                take();
            }
            return always();
        }
        if (type == "host") return address(proto, id);
        if (type == "port" || type == "portrange") return ports(proto, type, id);
        if (type == "proto") {
            uint32_t number;
            std::string name = id;
            if (!name.empty() && name[0] == '\\') name = name.substr(1);
            if (parse_number(name, 255, number)) return protocol(uint8_t(number));
            if (const int p = protocol_number(name); p >= 0) return protocol(uint8_t(p));
            throw NotUnderstood("proto '" + id + "'");
        }
        return always();  // protochain
    }

    FilterIndex& out_;
    std::vector<std::string> tokens_;
    size_t at_ = 0;
    bool seen_vlan_ = false;
    int vlan_nodes_ = 0;
    std::string last_proto_, last_type_;
};

FilterIndex FilterIndex::analyze(const std::string& filter) {
    FilterIndex index;
    std::vector<std::string> tokens = tokenize(filter);
    if (tokens.empty()) return index;
    try {
        FilterParser parser(index, std::move(tokens));
        index.root_ = parser.parse();
        // After `vlan`, libpcap reads every later primitive one tag further in, in whichever
        // packet. That is where the index looked only when the vlans lead a chain of `and`s
        // (every match then has those tags); anywhere else the later primitives match anything.
        int leading = 0;
        std::vector<int> conjuncts;
        for (int n = index.root_;;) {
            const Node& node = index.nodes_[size_t(n)];
            if (node.kind == Kind::all_of && !node.after_vlan && node.children.size() == 2) {
                conjuncts.insert(conjuncts.begin(), node.children[1]);
                n = node.children[0];
                continue;
            }
            conjuncts.insert(conjuncts.begin(), n);
            break;
        }
        for (int c : conjuncts) {
            const Node& node = index.nodes_[size_t(c)];
            if (node.kind != Kind::flag || node.flag != block_index::has_vlan || node.protocol != 1)
                break;
            ++leading;
        }
        index.vlan_safe_ = leading == parser.vlan_nodes();
    } catch (const NotUnderstood& e) {
        index.nodes_.clear();
        index.root_ = -1;
        index.reason_ = e.what();
    }
    return index;
}

bool FilterIndex::eval(int n, const bi::IndexContents& index,
                       const bi::IndexedBlock& block) const noexcept {
    const Node& node = nodes_[size_t(n)];
    if (node.after_vlan && !vlan_safe_) return true;
    switch (node.kind) {
    case Kind::always:
        return true;
    case Kind::all_of:
        for (int c : node.children)
            if (!eval(c, index, block)) return false;
        return true;
    case Kind::any_of:
        for (int c : node.children)
            if (eval(c, index, block)) return true;
        return false;
    case Kind::key:
        for (uint64_t k : node.keys)
            if (index.may_hold(block, k)) return true;
        return false;
    case Kind::protocol:
        return block.has_protocol(node.protocol);
    case Kind::flag:
        return (block.flags & node.flag) != 0;
    }
    return true;
}

bool FilterIndex::may_match(const bi::IndexContents& index,
                            const bi::IndexedBlock& block) const noexcept {
    if (root_ < 0 || (block.flags & bi::must_read) != 0) return true;
    return eval(root_, index, block);
}

}  // namespace taprec
