// Data-parallel runs of 2 and 3 ranks against one rank: each rank a process of its own, as
// trainers are, joined by a real c10d FileStore and Gloo process group on 127.0.0.1.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using json = nlohmann::json;

extern char** environ;

namespace {

// Runs `world` ranks of `spec` on `rows` rows and returns each rank's output.
std::vector<json> run_ranks(const json& spec, int rows, int world, const std::string& mode = "all") {
  // the ranks' store: a file no earlier run left behind
  std::string store = testing::TempDir() + "store_" + std::to_string(getpid()) + "_" + std::to_string(world);
  std::remove(store.c_str());
  std::remove((store + ".port").c_str());
  std::vector<pid_t> pids;
  std::vector<std::string> outputs;
  for (int rank = 0; rank < world; ++rank) {
    outputs.push_back(testing::TempDir() + "rank_" + std::to_string(getpid()) + "_" + std::to_string(world) + "_" +
                      std::to_string(rank) + ".json");
    std::vector<std::string> args = {DISTRIBUTED_RANK, spec.dump(), std::to_string(rows), std::to_string(world),
                                     std::to_string(rank), store, outputs.back(), mode};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    EXPECT_EQ(posix_spawn(&pid, DISTRIBUTED_RANK, nullptr, nullptr, argv.data(), environ), 0);
    pids.push_back(pid);
  }
  std::vector<json> results;
  for (int rank = 0; rank < world; ++rank) {
    int status = 0;
    waitpid(pids[rank], &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "rank " << rank << " of " << world << " failed";
    std::ifstream in(outputs[rank]);
    results.push_back(in ? json::parse(in) : json::object());
    std::remove(outputs[rank].c_str());
  }
  std::remove((store + ".port").c_str());
  return results;
}

json spec(const std::string& extra) {
  json s = json::parse(R"({"identifier": "m", "select": "-", "key": {"inputs": ["x1", "x2"], "target": "y"},
      "model": {"layers": [{"type": "Linear", "out_features": 16}, {"type": "Tanh"},
                           {"type": "Linear", "out_features": 1}]},
      "objective": "mse", "max_iterations": 60, "validation_interval": 20,
      "validation": {"split": 0.1, "metrics": ["mse", "r2"]},
      "loader_kwargs": {"batch_size": 32, "shuffle": false}})");
  s.merge_patch(json::parse(extra));
  return s;
}

void expect_close(const json& a, const json& b, double tolerance, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i].get<double>(), b[i].get<double>(), tolerance) << what << " [" << i << "]";
}

// N ranks end where one rank ends: the same weights, the same validation history.
void expect_ranks_equal_one(const json& s, int rows, int world, const std::string& mode = "all") {
  json one = run_ranks(s, rows, 1, mode)[0];
  std::vector<json> ranks = run_ranks(s, rows, world, mode);
  ASSERT_EQ(ranks.size(), static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    ASSERT_TRUE(ranks[r].contains("parameters")) << "rank " << r;
    EXPECT_EQ(ranks[r]["iteration"], one["iteration"]);
    EXPECT_EQ(ranks[r]["train_rows"], one["train_rows"]);
    EXPECT_EQ(ranks[r]["validation_rows"], one["validation_rows"]);
    EXPECT_EQ(ranks[r]["samples_seen"], one["samples_seen"]);
    expect_close(ranks[r]["parameters"], one["parameters"], 1e-5, "weights of rank " + std::to_string(r));
    for (const char* metric : {"objective", "mse", "r2", "train_objective"})
      expect_close(ranks[r]["history"][metric], one["history"][metric], 1e-5, metric);
  }
}

}  // namespace

TEST(Distributed, TwoRanksEqualOneWithSgd) {
  expect_ranks_equal_one(spec(R"({"optimizer_cls": "SGD", "optimizer_kwargs": {"lr": 0.05}})"), 1000, 2);
}

TEST(Distributed, ThreeRanksEqualOneWithAdam) {
  expect_ranks_equal_one(spec(R"({"optimizer_cls": "Adam", "optimizer_kwargs": {"lr": 0.01}})"), 1000, 3);
}

TEST(Distributed, ShuffledBatchesAreTheSameGlobalBatches) {
  expect_ranks_equal_one(spec(R"({"loader_kwargs": {"shuffle": true, "seed": 5}})"), 1000, 2);
}

// 1001 training rows over 3 ranks, in batches of 64 that 3 does not divide: shards differ
// by a row, and most batches hold a different count of each rank's rows.
TEST(Distributed, UnevenShardsFinish) {
  expect_ranks_equal_one(spec(R"({"validation": null, "max_iterations": 40,
                                  "loader_kwargs": {"batch_size": 64}})"),
                         1001, 3);
}

// Streamed rows ("in_memory": false): every rank reads the spill file, and computes its
// share of each batch.
TEST(Distributed, StreamedRowsTrainAsOneRank) {
  expect_ranks_equal_one(spec(R"({"in_memory": false, "data_prefetch": true, "prefetch_size": 100,
                                  "prefetch_factor": 3, "loader_kwargs": {"shuffle": true, "seed": 2},
                                  "transform": {"x1": ["standardize"]}})"),
                         1000, 2);
}

TEST(Distributed, TransformIsFittedOverEveryShard) {
  json s = spec(R"({"transform": {"x1": ["standardize"], "x2": ["min_max"]}})");
  json one = run_ranks(s, 1000, 1)[0];
  std::vector<json> ranks = run_ranks(s, 1000, 2);
  ASSERT_EQ(ranks.size(), 2u);
  EXPECT_EQ(ranks[1]["transform"], one["transform"]);
  expect_close(ranks[1]["parameters"], one["parameters"], 1e-5, "weights");
}

TEST(Distributed, WeightedCrossEntropyIsTheMeanOfTheWholeBatch) {
  json s = spec(R"({"objective": {"name": "cross_entropy", "weight": [0.3, 1.7]},
                    "validation": {"metrics": ["accuracy"]},
                    "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                                         {"type": "Linear", "out_features": 2}]}})");
  json one = run_ranks(s, 600, 1)[0];
  std::vector<json> ranks = run_ranks(s, 600, 2);
  ASSERT_EQ(ranks.size(), 2u);
  expect_close(ranks[0]["parameters"], one["parameters"], 1e-5, "weights");
  expect_close(ranks[0]["history"]["accuracy"], one["history"]["accuracy"], 1e-9, "accuracy");
}

// Batches of 1 row: each step, all ranks but one have no row, and still sum the weights of
// the batch's targets with the one that has it.
TEST(Distributed, RanksWithoutRowsInABatchJoinItsSums) {
  json s = spec(R"({"objective": {"name": "cross_entropy", "weight": [0.3, 1.7]}, "max_iterations": 30,
                    "validation": {"metrics": ["accuracy"]}, "validation_interval": 10,
                    "loader_kwargs": {"batch_size": 1},
                    "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                                         {"type": "Linear", "out_features": 2}]}})");
  json one = run_ranks(s, 200, 1)[0];
  std::vector<json> ranks = run_ranks(s, 200, 3);
  ASSERT_EQ(ranks.size(), 3u);
  expect_close(ranks[2]["parameters"], one["parameters"], 1e-5, "weights");
}

// Rows on several servers: each rank holds only its own rows (rank r the rows i with
// i mod world == r, their dense interleave being the rows' order). The validation split is
// drawn over every rank's rows, and the transforms fitted over all of them.
TEST(Distributed, RanksWithOwnRowsEqualOneRankWithAllRows) {
  expect_ranks_equal_one(spec(R"({"optimizer_cls": "Adam", "optimizer_kwargs": {"lr": 0.01},
                                  "loader_kwargs": {"shuffle": true, "seed": 3},
                                  "transform": {"x1": ["standardize"], "x2": ["min_max"]}})"),
                         1000, 3, "own");
}

TEST(Distributed, OwnRowsTransformIsFittedOverEveryRank) {
  json s = spec(R"({"transform": {"x1": ["standardize"], "x2": ["min_max"]}})");
  json one = run_ranks(s, 1000, 1, "own")[0];
  std::vector<json> ranks = run_ranks(s, 1000, 2, "own");
  ASSERT_EQ(ranks.size(), 2u);
  for (const json& rank : ranks) {
    const json& a = rank["transform"];
    const json& b = one["transform"];
    for (const char* column : {"x1", "x2"}) {
      const json& fa = a[column][0].begin().value();
      const json& fb = b[column][0].begin().value();
      expect_close(fa["center"], fb["center"], 1e-6, std::string(column) + " center");
      expect_close(fa["spread"], fb["spread"], 1e-6, std::string(column) + " spread");
    }
  }
}

// A process in rank 1's place that did not get the run's nonces from its store (as one that
// raced rank 1 to rank 0's port would not): rank 0 stops at once, before any weights travel.
TEST(Distributed, AnImpostorOnARanksConnectionIsRefused) {
  std::string store = testing::TempDir() + "store_impostor_" + std::to_string(getpid());
  std::string errors = testing::TempDir() + "rank0_impostor_" + std::to_string(getpid()) + ".txt";
  std::remove(store.c_str());
  std::vector<pid_t> pids;
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::string> args = {DISTRIBUTED_RANK, spec("{}").dump(), "100", "2", std::to_string(rank), store,
                                     testing::TempDir() + "impostor_out.json", "impostor"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (rank == 0) posix_spawn_file_actions_addopen(&actions, 2, errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    EXPECT_EQ(posix_spawn(&pid, DISTRIBUTED_RANK, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    pids.push_back(pid);
  }
  int status = 0;
  waitpid(pids[0], &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "rank 0 went on with an impostor";
  waitpid(pids[1], &status, 0);
  std::ifstream in(errors);
  std::string message((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(message.find("a process that is not rank 1 of this run answered"), std::string::npos) << message;
  std::remove(errors.c_str());
}

// Through a TCPStore that rank 0 serves (as across servers), on a port the kernel picked.
TEST(Distributed, OwnRowsThroughATcpStore) {
  expect_ranks_equal_one(spec(R"({"optimizer_cls": "SGD", "optimizer_kwargs": {"lr": 0.05}})"), 600, 2, "tcp");
}

// Shards of 700, 100 and no rows at all (a server whose select found none of the rows):
// the run finishes, and equals one rank given the rows in the shards' dense interleave.
TEST(Distributed, UnevenOwnRowsFinish) {
  expect_ranks_equal_one(spec(R"({"max_iterations": 40, "loader_kwargs": {"batch_size": 64},
                                  "transform": {"x1": ["standardize"]}})"),
                         800, 3, "blocks:700/100/0");
}
