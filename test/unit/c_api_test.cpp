// The C interface is the exception boundary: failures come back as values with a message.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "pinnacle_core.h"

namespace {

const char* kSpec = R"({"identifier": "m", "select": "-", "key": ["x", "label"],
    "model": {"layers": [{"type": "Linear", "out_features": 2}]}, "objective": "cross_entropy",
    "max_iterations": 5})";

std::string rows_message(int rows, float label) {
  std::string body(4, '\0');
  uint32_t count = rows;
  std::memcpy(body.data(), &count, 4);
  for (int r = 0; r < rows; ++r) {
    uint32_t one = 1;
    float x = static_cast<float>(r % 2);
    body.append(reinterpret_cast<const char*>(&one), 4).append(reinterpret_cast<const char*>(&x), 4);
    body.append(reinterpret_cast<const char*>(&one), 4).append(reinterpret_cast<const char*>(&label), 4);
  }
  return body;
}

}  // namespace

TEST(CApi, BadSpecReturnsNullAndAMessage) {
  EXPECT_EQ(pt_spec_parse(R"({"identifier": 3, "select": "-", "key": "x",
      "model": {"layers": [{"type": "ReLU"}]}, "objective": "mse"})"), nullptr);
  EXPECT_STREQ(pt_last_error(), "spec field \"identifier\": must be a non-empty string");
  EXPECT_EQ(pt_spec_parse("not json"), nullptr);
  EXPECT_NE(std::string(pt_last_error()).find("not valid JSON"), std::string::npos);
}

TEST(CApi, ModelCheckNamesTheProblem) {
  PtSpec* spec = pt_spec_parse(kSpec);
  ASSERT_NE(spec, nullptr);
  int64_t widths[] = {1, 1};
  EXPECT_TRUE(pt_spec_check_model(spec, widths, nullptr, 0, nullptr, 0));
  int64_t wide_target[] = {1, 3};
  EXPECT_FALSE(pt_spec_check_model(spec, wide_target, nullptr, 0, nullptr, 0));
  EXPECT_NE(std::string(pt_last_error()).find("one class index per row"), std::string::npos);
  pt_spec_free(spec);
}

TEST(CApi, TrainingFailureIsAValueNotAnException) {
  ASSERT_TRUE(pt_runtime_init(1));
  PtSpec* spec = pt_spec_parse(kSpec);
  ASSERT_NE(spec, nullptr);
  PtData* train = pt_data_new(spec, 0, true);
  std::string body = rows_message(16, 7.0f);  // class 7 with two outputs
  ASSERT_TRUE(pt_data_append(train, body.data(), body.size()));
  PtTrainer* trainer = pt_trainer_new(spec, train, pt_data_new(spec, 0, false), nullptr, 0, nullptr);
  ASSERT_NE(trainer, nullptr);
  EXPECT_EQ(pt_trainer_advance(trainer), PT_FAILED);
  EXPECT_NE(std::string(pt_last_error()).find("out of bounds"), std::string::npos);
  pt_trainer_free(trainer);
  pt_spec_free(spec);
}

TEST(CApi, TrainsAndPredictsThroughTheInterface) {
  PtSpec* spec = pt_spec_parse(kSpec);
  ASSERT_NE(spec, nullptr);
  PtData* train = pt_data_new(spec, 0, true);
  std::string body = rows_message(32, 1.0f);
  ASSERT_TRUE(pt_data_append(train, body.data(), body.size()));
  PtTrainer* trainer = pt_trainer_new(spec, train, pt_data_new(spec, 0, false), nullptr, 0, nullptr);
  ASSERT_NE(trainer, nullptr);
  PtEvent event;
  int validations = 0;
  while ((event = pt_trainer_advance(trainer)) != PT_FINISHED) {
    ASSERT_NE(event, PT_FAILED) << pt_last_error();
    validations += event == PT_VALIDATED;
  }
  EXPECT_EQ(validations, 1);
  EXPECT_EQ(pt_trainer_iteration(trainer), 5);
  const char *weights, *optimizer_state;
  size_t weights_size, optimizer_size;
  ASSERT_TRUE(pt_trainer_checkpoint(trainer, &weights, &weights_size, &optimizer_state, &optimizer_size));
  EXPECT_GT(weights_size, 0u);
  EXPECT_GT(optimizer_size, 0u);

  int64_t widths[] = {1, 1};
  PtModel* model = pt_model_load(kSpec, widths, 2, weights, weights_size, nullptr);
  ASSERT_NE(model, nullptr) << pt_last_error();
  EXPECT_EQ(pt_model_input_width(model), 1);
  EXPECT_EQ(pt_model_output_width(model), 2);
  float row[1] = {0.5f}, out[2];
  EXPECT_TRUE(pt_model_predict(model, row, 1, nullptr, out));
  // a batch predicts each row as alone, to float rounding (one row takes the path without torch)
  float rows[3] = {0.5f, -1.0f, 2.0f}, batch[6];
  EXPECT_TRUE(pt_model_predict(model, rows, 3, nullptr, batch));
  for (int r = 0; r < 3; ++r) {
    ASSERT_TRUE(pt_model_predict(model, &rows[r], 1, nullptr, out));
    EXPECT_NEAR(batch[2 * r], out[0], 1e-6);
    EXPECT_NEAR(batch[2 * r + 1], out[1], 1e-6);
  }
  // started on the model's thread, finished later: the same output, whatever the caller does
  // meanwhile with its rows; two started at once (a call nested in another's) each get theirs
  float first[6], second[6];
  PtPrediction* started = pt_model_predict_start(model, rows, 3, nullptr);
  ASSERT_NE(started, nullptr) << pt_last_error();
  float other_rows[3] = {4.0f, 0.0f, -3.0f}, other[6];
  PtPrediction* nested = pt_model_predict_start(model, other_rows, 3, nullptr);
  ASSERT_NE(nested, nullptr) << pt_last_error();
  rows[0] = 99.0f;  // each start copied its rows
  ASSERT_TRUE(pt_prediction_finish(model, nested, second)) << pt_last_error();
  ASSERT_TRUE(pt_prediction_finish(model, started, first)) << pt_last_error();
  ASSERT_TRUE(pt_model_predict(model, other_rows, 3, nullptr, other));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(first[i], batch[i]);
    EXPECT_EQ(second[i], other[i]);
  }
  // a dropped one is waited for; so are started ones at exit
  pt_prediction_drop(pt_model_predict_start(model, rows, 3, nullptr));
  PtPrediction* unfinished = pt_model_predict_start(model, rows, 3, nullptr);
  pt_model_wait_for_started(model);
  ASSERT_TRUE(pt_prediction_finish(model, unfinished, first));
  EXPECT_TRUE(pt_model_predict(model, rows, 3, nullptr, batch));
  EXPECT_EQ(pt_model_batch_rows(model), PT_MAX_BATCH_ROWS);
  EXPECT_EQ(pt_model_load(kSpec, widths, 2, "garbage", 7, nullptr), nullptr);
  EXPECT_GT(std::strlen(pt_last_error()), 0u);
  pt_model_free(model);
  pt_trainer_free(trainer);
  pt_spec_free(spec);
}

// Every entry is guarded: an index out of range (std::out_of_range inside) is a NULL or -1
// with a message, never an exception into C (which would std::terminate the process).
TEST(CApi, OutOfRangeIndexesFailCleanly) {
  PtSpec* spec = pt_spec_parse(kSpec);
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(pt_spec_column_name(spec, 7), nullptr);
  EXPECT_EQ(pt_last_error_kind(), PT_ERROR_INTERNAL);
  EXPECT_STREQ(pt_spec_column_name(spec, 1), "label");
  pt_spec_free(spec);
}

TEST(CApi, FailuresCarryTheirKind) {
  EXPECT_EQ(pt_spec_parse(R"({"identifier": "m"})"), nullptr);
  EXPECT_EQ(pt_last_error_kind(), PT_ERROR_SPEC);
  EXPECT_FALSE(pt_torchscript_check("not an archive", 14));
  EXPECT_NE(pt_last_error_kind(), PT_ERROR_INTERNAL);
}
