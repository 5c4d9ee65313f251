#include <gtest/gtest.h>

#include "spec.hpp"

using namespace pinnacle;

namespace {

json minimal() {
  return json::parse(R"({"identifier": "m", "select": "SELECT x, y FROM t", "key": ["x", "y"],
                        "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"})");
}

std::string error_of(const json& spec) {
  try {
    parse_spec(spec.dump());
  } catch (const SpecError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Spec, DefaultsFollowTheDesign) {
  TrainSpec spec = parse_spec(minimal().dump());
  EXPECT_EQ(spec.identifier, "m");
  EXPECT_EQ(spec.key.inputs, std::vector<std::string>{"x"});
  EXPECT_EQ(spec.key.target, "y");
  EXPECT_EQ(spec.loader.batch_size, 64);
  EXPECT_TRUE(spec.loader.shuffle);
  EXPECT_FALSE(spec.loader.drop_last);
  EXPECT_EQ(spec.optimizer.cls, "Adam");
  EXPECT_EQ(spec.validation_interval, 100);
  EXPECT_EQ(spec.no_improve_then_stop, 5);
  EXPECT_EQ(spec.listen, "objective");
  EXPECT_FALSE(spec.max_iterations.has_value());
  EXPECT_EQ(spec.compute.threads, 1);
  EXPECT_EQ(spec.signature, "*args");
}

TEST(Spec, KeyForms) {
  json spec = minimal();
  spec["key"] = "x";
  EXPECT_FALSE(parse_spec(spec.dump()).key.has_target());
  spec["key"] = json::parse(R"({"inputs": ["a", "b"], "target": "y"})");
  TrainSpec parsed = parse_spec(spec.dump());
  EXPECT_EQ(parsed.key.columns(), (std::vector<std::string>{"a", "b", "y"}));
  spec["key"] = json::parse(R"({"inputs": ["a", "a"]})");
  EXPECT_NE(error_of(spec).find("named twice"), std::string::npos);
}

TEST(Spec, UnknownFieldIsNamedWithTheClosestKnownName) {
  json spec = minimal();
  spec["optimiser_cls"] = "SGD";
  EXPECT_EQ(error_of(spec), "spec field \"optimiser_cls\": unknown field; did you mean \"optimizer_cls\"?");
  spec = minimal();
  spec["loader_kwargs"] = json::parse(R"({"batchsize": 3})");
  EXPECT_EQ(error_of(spec), "spec field \"loader_kwargs.batchsize\": unknown field; did you mean \"batch_size\"?");
}

TEST(Spec, WrongTypesNameTheField) {
  json spec = minimal();
  spec["loader_kwargs"] = json::parse(R"({"batch_size": "64"})");
  EXPECT_EQ(error_of(spec), "spec field \"loader_kwargs.batch_size\": must be an integer");
  spec = minimal();
  spec["max_iterations"] = 0;
  EXPECT_EQ(error_of(spec), "spec field \"max_iterations\": must be at least 1");
  spec = minimal();
  spec.erase("objective");
  EXPECT_EQ(error_of(spec), "spec field \"objective\": is required");
  EXPECT_NE(std::string(error_of(json::parse("[1]"))).find("(spec)"), std::string::npos);
}

TEST(Spec, OptimizerOptionsBelongToTheirOptimizer) {
  json spec = minimal();
  spec["optimizer_kwargs"] = json::parse(R"({"momentum": 0.9})");
  EXPECT_NE(error_of(spec).find("optimizer_kwargs.momentum"), std::string::npos);
  spec["optimizer_cls"] = "SGD";
  spec["optimizer_kwargs"]["lr"] = 0.1;
  EXPECT_EQ(parse_spec(spec.dump()).optimizer.cls, "SGD");
}

TEST(Spec, ListenMustBeAMetricThatIsComputed) {
  json spec = minimal();
  spec["listen"] = "r2";
  EXPECT_NE(error_of(spec).find("spec field \"listen\""), std::string::npos);
  spec["validation"] = json::parse(R"({"split": 0.1, "metrics": ["r2"]})");
  TrainSpec parsed = parse_spec(spec.dump());
  EXPECT_TRUE(parsed.listen_higher_is_better());
}

TEST(Spec, MetricsMustFitTheObjective) {
  json spec = minimal();
  spec["validation"] = json::parse(R"({"split": 0.1, "metrics": ["accuracy"]})");
  EXPECT_NE(error_of(spec).find("validation.metrics[0]"), std::string::npos);
  spec["objective"] = "cross_entropy";
  spec["validation"]["metrics"] = json::parse(R"(["mse"])");
  EXPECT_NE(error_of(spec).find("validation.metrics[0]"), std::string::npos);
}

TEST(Spec, DownloadIsABoolean) {
  json spec = minimal();
  EXPECT_FALSE(parse_spec(spec.dump()).download);
  spec["download"] = true;
  EXPECT_TRUE(parse_spec(spec.dump()).download);
  spec["download"] = "yes";
  EXPECT_NE(error_of(spec).find("spec field \"download\": must be true or false"), std::string::npos);
}

TEST(Spec, DeployIsAPolicy) {
  json spec = minimal();
  for (const char* policy : {"always", "if_better", "manual"}) {
    spec["deploy"] = policy;
    EXPECT_NO_THROW(parse_spec(spec.dump())) << policy;
  }
  spec["deploy"] = "sometimes";
  EXPECT_NE(error_of(spec).find("spec field \"deploy\""), std::string::npos);
}

TEST(Spec, ContinuedTraining) {
  json spec = minimal();
  EXPECT_EQ(parse_spec(spec.dump()).resume.from, ResumeSpec::From::nothing);
  spec["optimizer_state"] = "latest";
  EXPECT_EQ(parse_spec(spec.dump()).resume.from, ResumeSpec::From::latest);
  spec["optimizer_state"] = 12;
  TrainSpec from_run = parse_spec(spec.dump());
  EXPECT_EQ(from_run.resume.from, ResumeSpec::From::run);
  EXPECT_EQ(from_run.resume.run_id, 12);
  spec["optimizer_state"] = "newest";
  EXPECT_NE(error_of(spec).find("spec field \"optimizer_state\""), std::string::npos);
  spec.erase("optimizer_state");
  spec["init_from"] = "m@2";
  TrainSpec from_model = parse_spec(spec.dump());
  EXPECT_EQ(from_model.resume.from, ResumeSpec::From::model);
  EXPECT_EQ(from_model.resume.model, "m@2");
  spec["optimizer_state"] = 3;
  EXPECT_NE(error_of(spec).find("spec field \"init_from\""), std::string::npos);
}

TEST(Spec, StreamingFields) {
  json spec = minimal();
  spec["data_prefetch"] = true;
  EXPECT_NE(error_of(spec).find("spec field \"data_prefetch\": applies to streamed rows"), std::string::npos);
  spec["in_memory"] = false;
  spec["prefetch_size"] = 50;
  TrainSpec parsed = parse_spec(spec.dump());
  EXPECT_FALSE(parsed.in_memory);
  EXPECT_TRUE(parsed.data_prefetch);
  EXPECT_EQ(parsed.prefetch_size, 50);
  EXPECT_EQ(parsed.prefetch_factor, 100);
  spec["transform"] = json::parse(R"({"x": ["standardize"]})");  // fitted on a pass over the spill file
  EXPECT_EQ(error_of(spec), "");
}

TEST(Spec, ClosestName) {
  EXPECT_EQ(closest_name("Linera", {"Linear", "ReLU"}), "Linear");
  EXPECT_EQ(closest_name("zzzzzz", {"Linear", "ReLU"}), "");
}

TEST(Spec, PadRefusesWhatCannotTakeLengths) {
  json spec = minimal();
  spec["collate_fn"] = "pad";
  EXPECT_EQ(parse_spec(spec.dump()).collate_fn, "pad");
  json streamed = spec;
  streamed["in_memory"] = false;
  EXPECT_NE(error_of(streamed).find("spec field \"collate_fn\": \"pad\" pads to the longest row"), std::string::npos);
  json two_inputs = spec;
  two_inputs["key"] = json::parse(R"({"inputs": ["a", "b"], "target": "y"})");
  EXPECT_NE(error_of(two_inputs).find("several padded inputs need a TorchScript model"), std::string::npos);
  json scripted = spec;
  scripted["model"] = json::parse(R"({"torchscript": "m"})");
  scripted["signature"] = "singleton";
  EXPECT_NE(error_of(scripted).find("which \"singleton\" does not take"), std::string::npos);
  json fitted = spec;
  fitted["transform"] = json::parse(R"({"x": [{"scale": 2}, "min_max"]})");
  EXPECT_EQ(error_of(fitted),
            "spec field \"transform.x[1]\": min_max needs the same values per row; padded inputs take scale, shift and cast");
}

TEST(Spec, ServersAreForeignServerNamesAndRefuseWhatCannotWork) {
  json s = minimal();
  s["compute_kwargs"] = {{"workers", 2}, {"servers", {"shard_a", "shard_b"}}};
  TrainSpec spec = parse_spec(s.dump());
  EXPECT_EQ(spec.compute.servers, (std::vector<std::string>{"shard_a", "shard_b"}));
  EXPECT_EQ(spec.compute.world(), 6);

  auto with = [&](const json& patch) {
    json t = s;
    t.merge_patch(patch);
    return error_of(t);
  };
  EXPECT_NE(with({{"compute_kwargs", {{"servers", json::array()}}}}).find("compute_kwargs.servers"), std::string::npos);
  EXPECT_NE(with({{"compute_kwargs", {{"servers", {"a", "a"}}}}}).find("twice"), std::string::npos);
  EXPECT_NE(with({{"compute_kwargs", {{"workers", 40}}}}).find("at most 64"), std::string::npos);
  EXPECT_NE(with({{"download", true}}).find("\"download\""), std::string::npos);
  EXPECT_NE(with({{"in_memory", false}}).find("\"in_memory\""), std::string::npos);
  EXPECT_NE(with({{"validation", {{"select", "SELECT 1"}}}}).find("\"validation.select\""), std::string::npos);
  EXPECT_NE(with({{"model", {{"layers", nullptr}, {"torchscript", "m"}}}}).find("\"model.torchscript\""), std::string::npos);
}
