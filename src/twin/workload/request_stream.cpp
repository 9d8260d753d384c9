#include "twin/workload/request_stream.hpp"

#include <utility>

namespace joulepilot::twin {
namespace {

class VectorStream final : public RequestStream {
public:
    explicit VectorStream(std::shared_ptr<const Workload> workload) : m_workload(std::move(workload)) {}
    std::optional<RequestSpec> next() override {
        if (m_next >= m_workload->size()) return std::nullopt;
        return (*m_workload)[m_next++];
    }

private:
    std::shared_ptr<const Workload> m_workload;
    std::size_t m_next = 0;
};

class VectorSource final : public WorkloadSource {
public:
    explicit VectorSource(std::shared_ptr<const Workload> workload) : m_workload(std::move(workload)) {}
    [[nodiscard]] std::unique_ptr<RequestStream> open() const override {
        return std::make_unique<VectorStream>(m_workload);
    }

private:
    std::shared_ptr<const Workload> m_workload;
};

}  // namespace

std::shared_ptr<const WorkloadSource> workload_source(std::shared_ptr<const Workload> workload) {
    if (workload == nullptr) workload = std::make_shared<const Workload>();
    return std::make_shared<const VectorSource>(std::move(workload));
}

std::shared_ptr<const WorkloadSource> workload_source(Workload workload) {
    return workload_source(std::make_shared<const Workload>(std::move(workload)));
}

Workload read_all(RequestStream& stream) {
    Workload out;
    while (auto request = stream.next()) out.push_back(*request);
    return out;
}

}  // namespace joulepilot::twin
