// FilterIndex: what a libpcap filter needs of a block for any packet in it to match, checked
// against the block's index entry. It only ever says "this block cannot hold a match" when that
// follows from the filter: the primitives it understands (host, src/dst, port, portrange, proto,
// tcp/udp/sctp/icmp/icmp6/igmp, ip, ip6, arp/rarp, vlan, PROTO[...] relations) become checks of
// the entry; `not`, `net`, ether and length tests, and the like can match anything; a filter
// with a word it does not know (mpls, pppoes, a host name...) is not used to skip blocks at all.
// libpcap itself compiles the filter first and decides every packet of the blocks read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "index/index_file.hpp"

namespace taprec {

class FilterIndex {
public:
    static FilterIndex analyze(const std::string& filter);

    // False when the filter cannot skip any block (no filter, or one this cannot read).
    bool narrows() const noexcept { return root_ >= 0; }
    // Why not, when it does not narrow a filter that is not empty.
    const std::string& unused_reason() const noexcept { return reason_; }
    bool may_match(const block_index::IndexContents& index,
                   const block_index::IndexedBlock& block) const noexcept;

    enum class Kind : uint8_t { always, all_of, any_of, key, protocol, flag };
    struct Node {
        Kind kind = Kind::always;
        bool after_vlan = false;  // libpcap reads it one tag further in for each vlan before it
        uint8_t protocol = 0;
        uint32_t flag = 0;
        std::vector<uint64_t> keys;  // any of them (a port range is several)
        std::vector<int> children;
    };

private:
    bool eval(int node, const block_index::IndexContents& index,
              const block_index::IndexedBlock& block) const noexcept;

    std::vector<Node> nodes_;
    int root_ = -1;
    bool vlan_safe_ = true;
    std::string reason_;
    friend class FilterParser;
};

}  // namespace taprec
