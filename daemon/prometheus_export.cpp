#include "daemon/prometheus_export.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "daemon/log.hpp"
#include "stats/prometheus.hpp"

namespace taprec {
namespace {

// stats.prometheus_textfile: written to a temporary file in the same folder, then renamed over
// the old one, so node_exporter never reads half a file. Returns what failed, or "".
std::string write_prometheus(const std::string& path, const std::vector<TapSnapshot>& snapshots,
                             bool final) {
    const std::string text = prometheus_text(snapshots, final);
    const size_t slash = path.find_last_of('/');
    const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash);
    // A leading dot and no .prom suffix: the textfile collector skips the temporary file.
    std::string temp = folder + "/.taprec-prom-XXXXXX";
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) return "cannot create a file in " + folder + ": " + std::strerror(errno);
    // mkstemp makes 0600; node_exporter runs as another user and must read it.
    ::fchmod(fd, 0644);
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const std::string error = std::strerror(errno);
            ::close(fd);
            ::unlink(temp.c_str());
            return "cannot write " + temp + ": " + error;
        }
        done += size_t(n);
    }
    ::close(fd);
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string error = std::strerror(errno);
        ::unlink(temp.c_str());
        return "cannot rename " + temp + " to " + path + ": " + error;
    }
    return "";
}

}  // namespace

void PrometheusExport::write(const std::vector<TapSnapshot>& snapshots, bool final) {
    if (path_.empty()) return;
    const std::string error = write_prometheus(path_, snapshots, final);
    if (!error.empty() && !failing_)
        log_warning("stats.prometheus_textfile: " + error + "; metrics are stale until it works");
    else if (error.empty() && failing_)
        log_info("stats.prometheus_textfile: writing " + path_ + " again");
    failing_ = !error.empty();
}

}  // namespace taprec
