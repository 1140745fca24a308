#include "writer/publisher.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "index/index_file.hpp"
#include "stats/counter_table.hpp"
#include "stats/json.hpp"

namespace taprec {
namespace {

uint64_t test_delay_ms() {
    const char* value = std::getenv(Publisher::test_delay_variable);
    return value == nullptr ? 0 : std::strtoull(value, nullptr, 10);
}

}  // namespace

Publisher::Publisher(PublisherSetup setup)
    : setup_(std::move(setup)), delay_ms_(test_delay_ms()), thread_([this] { run(); }) {}

Publisher::~Publisher() {
    stopping_.store(true, std::memory_order_release);
    wake();
    if (thread_.joinable()) thread_.join();
}

void Publisher::wake() noexcept {
    wakeups_.fetch_add(1, std::memory_order_release);
    wakeups_.notify_one();
}

void Publisher::hand_over(ClosedFile& file) noexcept {
    const uint64_t handed = handed_.load(std::memory_order_relaxed);  // only this thread stores it
    uint64_t published = published_.load(std::memory_order_acquire);
    if (handed - published >= capacity) [[unlikely]] {
        if (full_waits_.get() == 0)
            setup_.notices->add(NoticeLevel::warning,
                                "publishing falls behind: " + std::to_string(capacity) +
                                    " closed files of " + setup_.directory->partial_dir() +
                                    " wait to be synced and renamed; the writer waits for the "
                                    "oldest while the rings buffer (a slow disk? logged once)");
        full_waits_.add(1);
        for (; handed - published >= capacity; published = published_.load(std::memory_order_acquire))
            published_.wait(published, std::memory_order_acquire);
    }
    // The slot was emptied by the publisher: moving into it allocates nothing.
    slots_[handed % capacity] = std::move(file);
    handed_.store(handed + 1, std::memory_order_release);
    wake();
}

void Publisher::drain() noexcept {
    const uint64_t handed = handed_.load(std::memory_order_relaxed);
    for (uint64_t p = published_.load(std::memory_order_acquire); p < handed;
         p = published_.load(std::memory_order_acquire))
        published_.wait(p, std::memory_order_acquire);
}

void Publisher::run() noexcept {
    uint64_t done = 0;
    while (true) {
        const uint32_t seen = wakeups_.load(std::memory_order_acquire);
        const uint64_t handed = handed_.load(std::memory_order_acquire);
        if (done == handed) {
            // A stop comes after the writer's last hand-over: look once more after seeing it.
            if (stopping_.load(std::memory_order_acquire) &&
                handed_.load(std::memory_order_acquire) == done)
                break;
            wakeups_.wait(seen, std::memory_order_acquire);
            continue;
        }
        for (; done < handed; ++done) {
            ClosedFile& file = slots_[done % capacity];
            publish(file);
            file = ClosedFile{};  // freed here, so the writer's next move into the slot is free
            published_.store(done + 1, std::memory_order_release);
            published_.notify_all();
        }
    }
}

void Publisher::publish(ClosedFile& file) noexcept {
    if (delay_ms_ != 0) [[unlikely]]
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    OutputDirectory& directory = *setup_.directory;
    int sync_error = 0;
    if (setup_.sync && ::fsync(file.fd) != 0) sync_error = errno;
    ::close(file.fd);
    file.fd = -1;
    try {
        const std::string partial = directory.partial_path(file.name);
        const std::string meta = directory.meta_dir() + "/";
        const std::string partial_index = meta + block_index::writing_index_name(file.name);
        if (sync_error != 0) {
            setup_.sync_errors->add(1);
            setup_.notices->add(NoticeLevel::error, "fsync of " + partial + " failed: " +
                                                        std::strerror(sync_error) +
                                                        "; publishing it anyway");
        }
        if (file.packets == 0) {
            ::unlink(partial.c_str());  // everything in it was lost: nothing worth publishing
            ::unlink(partial_index.c_str());
            return;
        }
        // The index is renamed to NAME.idx before the pcap file is renamed into place: a
        // published file has its index from the moment it appears (or none, when this failed:
        // query then reads it in full). publish() takes the next free name on a clash; the
        // index follows it then.
        const std::string index = meta + block_index::index_name(file.name);
        if (file.indexed && ::rename(partial_index.c_str(), index.c_str()) != 0)
            ::unlink(partial_index.c_str());
        std::string published;
        try {
            published = directory.publish(file.name);
        } catch (const std::exception& e) {
            // Left in .partial: the next start repairs and publishes it.
            setup_.notices->add(NoticeLevel::error,
                                std::string(e.what()) + "; the file stays in .partial");
            return;
        }
        setup_.files->add(1);
        if (file_name(published) != file.name)
            ::rename(index.c_str(), (meta + block_index::index_name(file_name(published))).c_str());
        const std::string line = index_line(file, published);
        totals_at_last_publish_ = std::move(file.totals);
        try {
            directory.append_meta_line("index.jsonl", line);
        } catch (const std::exception& e) {
            setup_.notices->add(NoticeLevel::error, e.what());
        }
        if (setup_.published) setup_.published(published);
    } catch (const std::exception& e) {  // no memory for a path or a line
        setup_.notices->add(NoticeLevel::error, "publishing " + file.name + ": " + e.what());
    }
}

std::string Publisher::index_line(const ClosedFile& file, const std::string& published) const {
    const TapSnapshot& now = file.totals;
    const TapSnapshot& before = totals_at_last_publish_;
    // "file" first: readers match a line by its start (partial_repair.cpp, bench/seqcheck);
    // "name", the same, last, for it is what DESIGN.md calls the field.
    const std::string name_json = json_string(file_name(published));
    std::string line = "{\"file\":" + name_json +
                       ",\"first_ns\":" + std::to_string(file.first_ns) +
                       ",\"last_ns\":" + std::to_string(file.last_ns) +
                       ",\"packets\":" + std::to_string(file.packets) +
                       ",\"bytes\":" + std::to_string(file.bytes) + ",\"ports\":{";
    for (size_t port = 0; port < max_ports_per_tap; ++port) {
        if (!setup_.ports[port]) continue;
        if (port != 0) line += ",";
        auto grown = [&](const CounterSpec& c) {
            return counter_value(c, now, port) - counter_value(c, before, port);
        };
        line += std::string("\"") + port_name(port) + "\":{\"packets\":" +
                std::to_string(file.port_packets[port]) + ",\"drops\":" +
                std::to_string(port_drops(now, port) - port_drops(before, port));
        for (const CounterSpec& c : counter_table)
            if (c.per_file) line += std::string(",\"") + c.name + "\":" + std::to_string(grown(c));
        char percent[32];
        std::snprintf(percent, sizeof percent, "%.4f",
                      upstream_loss_percent(grown(counter_spec(CounterId::tcp_ack_gaps)),
                                            grown(counter_spec(CounterId::tcp_acks))));
        line += std::string(",\"upstream_loss_percent\":") + percent + "}";
    }
    line += "},\"name\":" + name_json + "}";
    return line;
}

}  // namespace taprec
