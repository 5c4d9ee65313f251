#include <gtest/gtest.h>

#include <cstring>

#include "dataset.hpp"

using namespace pinnacle;

namespace {

// Encodes rows in the wire format of wire.h (the body after the kind byte and padding).
std::string wire_rows(const std::vector<std::vector<std::vector<float>>>& rows) {
  std::string body(4, '\0');
  uint32_t count = rows.size();
  std::memcpy(body.data(), &count, 4);
  for (const auto& row : rows)
    for (const auto& column : row) {
      uint32_t n = column.size();
      body.append(reinterpret_cast<const char*>(&n), 4);
      body.append(reinterpret_cast<const char*>(column.data()), n * sizeof(float));
    }
  return body;
}

}  // namespace

TEST(Dataset, DecodesWireRowsSideBySide) {
  Dataset data({"features", "label"}, 0);
  std::string body = wire_rows({{{1, 2, 3}, {0}}, {{4, 5, 6}, {1}}});
  data.append_wire_rows(body.data(), body.size());
  EXPECT_EQ(data.rows(), 2);
  EXPECT_EQ(data.widths(), (std::vector<int64_t>{3, 1}));
  EXPECT_TRUE(torch::equal(data.all(), torch::tensor({{1.f, 2.f, 3.f, 0.f}, {4.f, 5.f, 6.f, 1.f}})));
}

TEST(Dataset, RaggedRowIsNamed) {
  Dataset data({"features", "label"}, 0);
  std::string body = wire_rows({{{1, 2, 3}, {0}}, {{4, 5}, {1}}});
  try {
    data.append_wire_rows(body.data(), body.size());
    FAIL() << "ragged rows were accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "column \"features\", row 2: has 2 values, the first row had 3");
  }
}

TEST(Dataset, TruncatedMessageIsRejected) {
  Dataset data({"x"}, 0);
  std::string body = wire_rows({{{1, 2, 3}}});
  EXPECT_THROW(data.append_wire_rows(body.data(), body.size() - 2), std::runtime_error);
}

TEST(Dataset, MemoryLimitSuggestsStreaming) {
  Dataset data({"x"}, 64);
  std::string body = wire_rows({{{1, 2, 3, 4, 5, 6, 7, 8}}, {{1, 2, 3, 4, 5, 6, 7, 8}}, {{1, 2, 3, 4, 5, 6, 7, 8}}});
  try {
    data.append_wire_rows(body.data(), body.size());
    FAIL() << "the memory limit was not enforced";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("\"in_memory\": false"), std::string::npos);
  }
}

TEST(Dataset, SplitIsSeededAndDisjoint) {
  Dataset a({"x"}, 0), b({"x"}, 0);
  for (int i = 0; i < 100; ++i) {
    a.append_row({{static_cast<float>(i)}});
    b.append_row({{static_cast<float>(i)}});
  }
  Dataset held_a = a.split_off(0.2, 7), held_b = b.split_off(0.2, 7);
  EXPECT_EQ(held_a.rows(), 20);
  EXPECT_EQ(a.rows(), 80);
  EXPECT_TRUE(torch::equal(held_a.all(), held_b.all()));
  auto all = torch::cat({a.all(), held_a.all()}).flatten();
  EXPECT_TRUE(torch::equal(std::get<0>(all.sort()), torch::arange(100, torch::kFloat32)));
}

TEST(Dataset, PaddedInputsArePaddedToTheLongestRowWithTheirLengths) {
  Dataset data({"tokens", "label"}, 0);
  data.pad_inputs(1);
  std::string body = wire_rows({{{1, 2, 3}, {0}}, {{4}, {1}}, {{5, 6}, {2}}});
  data.append_wire_rows(body.data(), body.size());
  data.finish_padding();
  EXPECT_EQ(data.widths(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(data.row_width(), 5);  // 3 padded values, the label, the length
  EXPECT_TRUE(torch::equal(data.all(), torch::tensor({{1.f, 2.f, 3.f, 0.f, 3.f},
                                                      {4.f, 0.f, 0.f, 1.f, 1.f},
                                                      {5.f, 6.f, 0.f, 2.f, 2.f}})));
}

TEST(Dataset, PaddedRowsLongerThanTheTrainingRowsAreNamed) {
  Dataset validation({"tokens", "label"}, 0);
  validation.pad_inputs(1);
  std::string body = wire_rows({{{1}, {0}}, {{1, 2, 3, 4}, {1}}});
  validation.append_wire_rows(body.data(), body.size());
  try {
    validation.finish_padding({3, 1});
    FAIL() << "a row longer than the training rows was padded";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "column \"tokens\", row 2: has 4 values, more than the longest training row's 3");
  }
}

TEST(Dataset, PaddedInputsStillRefuseEmptyArrays) {
  Dataset data({"tokens", "label"}, 0);
  data.pad_inputs(1);
  std::string body = wire_rows({{{1}, {0}}, {{}, {1}}});
  EXPECT_THROW(data.append_wire_rows(body.data(), body.size()), std::runtime_error);
}

TEST(Dataset, PaddingPastTheMemoryLimitFailsBeforeAllocating) {
  Dataset data({"tokens", "label"}, 4096);  // bytes: the ragged rows fit, padded they would not
  data.pad_inputs(1);
  std::vector<std::vector<std::vector<float>>> rows(20, {{1}, {0}});
  rows.push_back({std::vector<float>(200, 1.f), {0}});
  std::string body = wire_rows(rows);
  data.append_wire_rows(body.data(), body.size());
  try {
    data.finish_padding();
    FAIL() << "21 rows padded to 200 values passed a 4 kB limit";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("memory limit of 4 kB"), std::string::npos) << e.what();
  }
}

// in_memory false splits off the same validation rows as in memory, and trains on the rest
TEST(Dataset, SpilledSplitHoldsOutTheRowsAnInMemorySplitDoes) {
  Dataset in_memory({"x"}, 0), streamed({"x"}, 0);
  streamed.spill(/*chunk_rows=*/7);
  for (int i = 0; i < 100; ++i) {
    in_memory.append_row({{static_cast<float>(i)}});
    streamed.append_row({{static_cast<float>(i)}});
  }
  SpilledRows spilled = streamed.finish_spill();
  Dataset held_in_memory = in_memory.split_off(0.25, 3);
  Dataset held_streamed = streamed.split_off(spilled, 0.25, 3);
  EXPECT_TRUE(torch::equal(held_in_memory.all(), held_streamed.all()));
  EXPECT_EQ(spilled.training_rows(), 75);

  std::vector<torch::Tensor> trained;
  for_each_chunk(spilled, [&](const torch::Tensor& chunk) { trained.push_back(chunk.clone()); });
  EXPECT_TRUE(torch::equal(torch::cat(trained), in_memory.all()));

  ChunkedBatchReader reader(std::move(spilled), /*batch_size=*/10, /*shuffle=*/true, /*drop_last=*/false, 0, 2);
  std::vector<torch::Tensor> epoch;
  for (int b = 0; b < 8; ++b) epoch.push_back(reader.next_batch());  // 75 rows: 7 batches of 10 and one of 5
  EXPECT_EQ(reader.epoch(), 0);
  torch::Tensor seen = std::get<0>(torch::cat(epoch).flatten().sort());
  EXPECT_TRUE(torch::equal(seen, std::get<0>(in_memory.all().flatten().sort())));
}
