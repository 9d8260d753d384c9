// Ledger: the public face of the ledger's write side (see ledger.hpp); forwards to Ledger::Writer,
// which owns the queue and the writer thread. Also migrate_file for `joulepilot ledger migrate`.

#include "ledger/ledger.hpp"

#include <cmath>

#include "ledger/ledger_writer.hpp"
#include "ledger/sample_block.hpp"
#include "ledger/schema.hpp"

namespace joulepilot::ledger {

using detail::Admission;

core::Result<std::unique_ptr<Ledger>> Ledger::open(LedgerOptions options) {
    auto writer = Writer::open(std::move(options));
    if (!writer) return tl::unexpected(writer.error());
    return std::unique_ptr<Ledger>(new Ledger(std::move(*writer)));
}

Ledger::Ledger(std::unique_ptr<Writer> writer) : m_writer(std::move(writer)) {}
Ledger::~Ledger() = default;

SeriesId Ledger::series(const SeriesInfo& info) { return m_writer->series(info); }

namespace {
// NaN is a missing value, not a sample (and SQLite would read it back as NULL); a time before
// kEarliestSampleMs has no minute block to go in. Both are counted as rejected, not stored.
bool storable(const Sample& sample) {
    return !std::isnan(sample.value) && sample.t_ms >= detail::kEarliestSampleMs;
}
}  // namespace

bool Ledger::append(const Sample& sample) {
    if (!storable(sample)) {
        m_writer->count_rejected(1);
        return false;
    }
    return m_writer->push(sample, 1, Admission::bounded) != 0;
}

bool Ledger::append(std::span<const Sample> samples) {
    detail::SampleBatch batch;
    batch.samples.reserve(samples.size());
    for (const auto& sample : samples) {
        if (storable(sample)) batch.samples.push_back(sample);
    }
    if (batch.samples.size() != samples.size())
        m_writer->count_rejected(samples.size() - batch.samples.size());
    if (batch.samples.empty()) return batch.samples.size() == samples.size();
    const auto units = batch.samples.size();
    return m_writer->push(std::move(batch), units, Admission::bounded) != 0;
}

bool Ledger::append(DecisionRecord decision) {
    return m_writer->push(std::move(decision), 1, Admission::bounded) != 0;
}

bool Ledger::append(ActionRecord action) {
    return m_writer->push(std::move(action), 1, Admission::bounded) != 0;
}

bool Ledger::append(RequestEnergyRecord request) {
    return m_writer->push(std::move(request), 1, Admission::bounded) != 0;
}

bool Ledger::append(JobStateRecord job) { return m_writer->push(std::move(job), 1, Admission::bounded) != 0; }

bool Ledger::put_value(std::string key, std::string value) {
    return m_writer->push(detail::KeyValue{std::move(key), std::move(value)}, 1, Admission::bounded) != 0;
}

bool Ledger::append_audit(std::int64_t t_ms, std::string kind, nlohmann::json body) {
    return m_writer->push(detail::AuditAppend{t_ms, std::move(kind), std::move(body)}, 1,
                          Admission::audit_reserve) != 0;
}

core::Result<void> Ledger::commit(JobStateRecord job, std::chrono::milliseconds timeout) {
    const auto ticket = m_writer->push(std::move(job), 1, Admission::always);
    return m_writer->wait_committed(ticket, timeout);
}

core::Result<void> Ledger::commit_audit(std::int64_t t_ms, std::string kind, nlohmann::json body,
                                        std::chrono::milliseconds timeout) {
    const auto ticket =
        m_writer->push(detail::AuditAppend{t_ms, std::move(kind), std::move(body)}, 1, Admission::always);
    return m_writer->wait_committed(ticket, timeout);
}

core::Result<void> Ledger::flush(std::chrono::milliseconds timeout) { return m_writer->flush(timeout); }
core::Result<void> Ledger::compact(std::int64_t now_ms) { return m_writer->compact(now_ms); }
LedgerStats Ledger::stats() const { return m_writer->stats(); }
const LedgerReader& Ledger::reader() const { return m_writer->reader(); }
const std::filesystem::path& Ledger::path() const { return m_writer->path(); }

core::Result<int> migrate_file(const std::filesystem::path& path) {
    auto db = detail::Database::open(path, detail::Database::Mode::read_write_create);
    if (!db) return tl::unexpected(db.error());
    if (auto checked = detail::check_file(*db); !checked) return tl::unexpected(checked.error());
    if (auto wal = db->exec("PRAGMA journal_mode = WAL"); !wal) return tl::unexpected(wal.error());
    if (auto migrated = detail::migrate_to(*db, kSchemaVersion); !migrated)
        return tl::unexpected(migrated.error());
    return kSchemaVersion;
}

}  // namespace joulepilot::ledger
