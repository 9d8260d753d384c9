// The JSON of the API: strict parsing of posted request records and policy specs (every problem listed,
// each naming its field) and the shape of errors.
#include "serve/api_json.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace joulepilot::serve {
namespace {

using nlohmann::json;

json good_record() {
    return json::parse(
        R"({"id": "cmpl-1", "start": 100.25, "end": 101.5, "input_tokens": 512, "output_tokens": 128,
                           "model": "llama-3.1-8b", "gpu": 2})");
}

bool has_detail(const ApiError& e, const std::string& part) {
    for (const auto& d : e.details) {
        if (d.find(part) != std::string::npos) return true;
    }
    return false;
}

TEST(ParseRequestRecords, OneRecordObject) {
    auto records = parse_request_records(good_record());
    ASSERT_TRUE(records) << records.error().message;
    ASSERT_EQ(records->size(), 1U);
    const RequestRecord& r = records->front();
    EXPECT_EQ(r.id, "cmpl-1");
    EXPECT_EQ(r.start.value(), 100.25);
    EXPECT_EQ(r.end.value(), 101.5);
    EXPECT_EQ(r.input_tokens, 512U);
    EXPECT_EQ(r.output_tokens, 128U);
    EXPECT_EQ(r.model, "llama-3.1-8b");
    EXPECT_EQ(r.gpus, std::vector<int>{2});
}

TEST(ParseRequestRecords, ArrayWithGpuLists) {
    json second = good_record();
    second["id"] = "cmpl-2";
    second["gpu"] = json::array({0, 1});
    auto records = parse_request_records(json::array({good_record(), second}));
    ASSERT_TRUE(records) << records.error().message;
    ASSERT_EQ(records->size(), 2U);
    EXPECT_EQ((*records)[1].gpus, (std::vector<int>{0, 1}));
}

TEST(ParseRequestRecords, ListsEveryProblemWithItsField) {
    json bad = good_record();
    bad["end"] = 99;             // before start
    bad["input_tokens"] = -1;    // negative
    bad["output_tokens"] = 2.5;  // fraction
    bad["model"] = "";           // empty
    bad["gpu"] = "0";            // string
    bad["tenant"] = "a";         // unknown
    bad.erase("id");             // missing
    auto records = parse_request_records(bad);
    ASSERT_FALSE(records);
    const ApiError& e = records.error();
    EXPECT_EQ(e.code, ErrorCode::validation_failed);
    EXPECT_NE(e.message.find("nothing was recorded"), std::string::npos);
    EXPECT_TRUE(has_detail(e, "end: 99 is before start 100.25")) << e.message;
    EXPECT_TRUE(has_detail(e, "input_tokens: must be an integer >= 0, got a negative integer"));
    EXPECT_TRUE(has_detail(e, "output_tokens: must be an integer >= 0, got a number with a fraction"));
    EXPECT_TRUE(has_detail(e, "model: must be 1..256 characters"));
    EXPECT_TRUE(has_detail(e, "gpu: must be a GPU index"));
    EXPECT_TRUE(has_detail(e, "tenant: unknown field"));
    EXPECT_TRUE(has_detail(e, "id: missing (required)"));
    EXPECT_EQ(e.details.size(), 7U);
}

TEST(ParseRequestRecords, ArrayProblemsNameTheIndex) {
    json second = good_record();  // same id as the first
    json third = good_record();
    third["id"] = "x";
    third["start"] = "yesterday";
    auto records = parse_request_records(json::array({good_record(), second, third, 5}));
    ASSERT_FALSE(records);
    EXPECT_TRUE(has_detail(records.error(), "[1].id: 'cmpl-1' appears twice"));
    EXPECT_TRUE(has_detail(records.error(), "[2].start: must be a number"));
    EXPECT_TRUE(has_detail(records.error(), "[3]: a request record must be an object"));
}

TEST(ParseRequestRecords, RefusesEmptyTooManyAndOddIds) {
    EXPECT_FALSE(parse_request_records(json::array()));
    json many = json::array();
    for (std::size_t i = 0; i <= kMaxRecordsPerPost; ++i) many.push_back(1);
    auto r = parse_request_records(many);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("at most 10000"), std::string::npos);
    for (const char* id : {"has space", "a/b", "quote\"", ""}) {
        json bad = good_record();
        bad["id"] = id;
        EXPECT_FALSE(parse_request_records(bad)) << id;
    }
    json gpus = good_record();
    gpus["gpu"] = json::array({1, 1});
    EXPECT_FALSE(parse_request_records(gpus));
    gpus["gpu"] = json::array();
    EXPECT_FALSE(parse_request_records(gpus));
    json longer = good_record();
    longer["end"] = 100.25 + 8 * 86400;
    EXPECT_FALSE(parse_request_records(longer));
    EXPECT_FALSE(parse_request_records(json("text")));
}

// Any valid record survives to_json -> parse unchanged.
RC_GTEST_PROP(ParseRequestRecords, RoundTripsThroughJson, ()) {
    RequestRecord r;
    const auto id_chars = rc::gen::elementOf(std::string("abcXYZ019._:@-"));
    r.id = *rc::gen::container<std::string>(*rc::gen::inRange<std::size_t>(1, 40), id_chars);
    r.start = core::Seconds(*rc::gen::inRange(0, 2'000'000'000) / 1000.0);
    r.end = r.start + core::Seconds(*rc::gen::inRange(0, 600'000) / 1000.0);
    r.input_tokens = *rc::gen::inRange<std::uint64_t>(0, 1'000'000);
    r.output_tokens = *rc::gen::inRange<std::uint64_t>(0, 1'000'000);
    r.model = *rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::inRange<char>('a', 'z')));
    const int first_gpu = *rc::gen::inRange(0, 8);
    r.gpus = {first_gpu};
    if (*rc::gen::arbitrary<bool>()) r.gpus.push_back(first_gpu + 1);
    auto parsed = parse_request_records(json::parse(to_json(r).dump()));
    RC_ASSERT(parsed.has_value());
    const RequestRecord& p = parsed->front();
    RC_ASSERT(p.id == r.id);
    RC_ASSERT(p.start == r.start);
    RC_ASSERT(p.end == r.end);
    RC_ASSERT(p.input_tokens == r.input_tokens);
    RC_ASSERT(p.output_tokens == r.output_tokens);
    RC_ASSERT(p.model == r.model);
    RC_ASSERT(p.gpus == r.gpus);
}

TEST(ParsePolicySpec, NameAndParams) {
    auto spec = parse_policy_spec(json::parse(R"({"name": "threshold", "params": {"util_low": 0.2}})"));
    ASSERT_TRUE(spec);
    EXPECT_EQ(spec->name, "threshold");
    EXPECT_EQ(spec->params["util_low"], 0.2);
    spec = parse_policy_spec(json::parse(R"({"name": "static"})"));
    ASSERT_TRUE(spec);
    EXPECT_TRUE(spec->params.is_object());
    EXPECT_TRUE(spec->params.empty());
}

TEST(ParsePolicySpec, RefusesWrongShapes) {
    auto spec = parse_policy_spec(json::parse(R"({"name": ["x"], "params": 3, "force": true})"));
    ASSERT_FALSE(spec);
    EXPECT_EQ(spec.error().details.size(), 3U);
    EXPECT_TRUE(has_detail(spec.error(), "name: must be a string, got an array"));
    EXPECT_TRUE(has_detail(spec.error(), "params: must be an object"));
    EXPECT_TRUE(has_detail(spec.error(), "force: unknown field"));
    EXPECT_FALSE(parse_policy_spec(json::parse("[]")));
    EXPECT_FALSE(parse_policy_spec(json::parse("{}")));
}

TEST(ErrorJson, HasCodeMessageAndDetailsWhenAny) {
    const json plain = error_json(ApiError{ErrorCode::not_found, "no request 'x'", {}});
    EXPECT_EQ(plain, json::parse(R"({"error": {"code": "not_found", "message": "no request 'x'"}})"));
    const json detailed = error_json(ApiError{ErrorCode::validation_failed, "bad", {"a: b"}});
    EXPECT_EQ(detailed["error"]["details"], json::array({"a: b"}));
    EXPECT_EQ(http_status(ErrorCode::validation_failed), 422);
    EXPECT_EQ(http_status(ErrorCode::payload_too_large), 413);
    EXPECT_EQ(http_status(ErrorCode::forbidden), 403);
    EXPECT_EQ(http_status(ErrorCode::unavailable), 503);
}

TEST(StatusJson, MissingValuesAreNull) {
    AgentStatus s;
    s.world = "node";
    const json j = to_json(s);
    EXPECT_TRUE(j["last_tick"].is_null());
    EXPECT_TRUE(j["efficiency"]["energy_per_token_joules"].is_null());
    EXPECT_TRUE(j["ledger"]["last_error"].is_null());
    EXPECT_EQ(j["world"], "node");
}

}  // namespace
}  // namespace joulepilot::serve
