// The torch-free entries of the C interface (pinnacle_core.h): the spec, reports and search
// plans, linked into pinnacle_train.so, so that a backend checks a spec without libtorch; and
// the one record of the latest failure, which the torch core's entries (c_api.cpp) share.
#include "pinnacle_core.h"

#include <cstring>
#include <new>
#include <string>

#include "c_api_guard.hpp"
#include "c_api_spec.hpp"
#include "report.hpp"
#include "search.hpp"

namespace pinnacle::c_api {

namespace {

thread_local std::string last_error;
thread_local PtErrorKind last_error_kind = PT_ERROR_INTERNAL;

}  // namespace

void fail(PtErrorKind kind, const char* message) noexcept {
  try {
    last_error_kind = kind;
    last_error = message;
  } catch (...) {
    last_error_kind = PT_ERROR_MEMORY;  // the message could not be copied
  }
}

bool is_allocation_failure(const char* message) noexcept {
  return std::strstr(message, "allocate memory") != nullptr || std::strstr(message, "not enough memory") != nullptr ||
         std::strstr(message, "bad_alloc") != nullptr;
}

void fail_with_current_exception() noexcept {
  try {
    throw;
  } catch (const std::bad_alloc& e) {
    fail(PT_ERROR_MEMORY, "out of memory (std::bad_alloc)");
  } catch (const SpecError& e) {
    fail(is_allocation_failure(e.what()) ? PT_ERROR_MEMORY : PT_ERROR_SPEC, e.what());
  } catch (const nlohmann::json::exception& e) {
    fail(PT_ERROR_DATA, e.what());
  } catch (const std::runtime_error& e) {
    fail(is_allocation_failure(e.what()) ? PT_ERROR_MEMORY : PT_ERROR_DATA, e.what());
  } catch (const std::exception& e) {
    fail(PT_ERROR_INTERNAL, e.what());
  } catch (...) {
    fail(PT_ERROR_INTERNAL, "unknown error in the training core");
  }
}

}  // namespace pinnacle::c_api

// Every entry of the C interface is one PT_ENTRY: its body runs inside guarded(), so no
// exception (from .at(), a JSON dump, a string allocation) reaches the C side.
#define PT_ENTRY(failure, ...) \
  return pinnacle::c_api::guarded<pinnacle::c_api::fail_with_current_exception>(failure, [&] { __VA_ARGS__ })

extern "C" {

const char* pt_last_error(void) noexcept { return pinnacle::c_api::last_error.c_str(); }
PtErrorKind pt_last_error_kind(void) noexcept { return pinnacle::c_api::last_error_kind; }

PtSpec* pt_spec_parse(const char* json_text) noexcept {
  PT_ENTRY(nullptr, auto* s = new PtSpec{pinnacle::parse_spec(json_text), json_text, {}};
           s->columns = s->spec.key.columns(); return s;);
}

void pt_spec_free(PtSpec* spec) noexcept { delete spec; }
const char* pt_spec_identifier(const PtSpec* spec) noexcept { return spec->spec.identifier.c_str(); }
const char* pt_spec_select(const PtSpec* spec) noexcept { return spec->spec.select.c_str(); }
const char* pt_spec_validation_select(const PtSpec* spec) noexcept {
  return spec->spec.validation.select.empty() ? nullptr : spec->spec.validation.select.c_str();
}
int pt_spec_column_count(const PtSpec* spec) noexcept { return static_cast<int>(spec->columns.size()); }
int pt_spec_input_count(const PtSpec* spec) noexcept { return static_cast<int>(spec->spec.key.inputs.size()); }
const char* pt_spec_column_name(const PtSpec* spec, int column) noexcept {
  PT_ENTRY(nullptr, return spec->columns.at(column).c_str(););
}
bool pt_spec_column_is_class_index(const PtSpec* spec, int column) noexcept {
  return spec->spec.key.has_target() && column == pt_spec_column_count(spec) - 1 &&
         spec->spec.objective.wants_class_index();
}
bool pt_spec_column_is_padded(const PtSpec* spec, int column) noexcept {
  return spec->spec.collate_fn == "pad" && column < static_cast<int>(spec->spec.key.inputs.size());
}
bool pt_spec_in_memory(const PtSpec* spec) noexcept { return spec->spec.in_memory; }
int pt_spec_threads(const PtSpec* spec) noexcept { return spec->spec.compute.threads; }
int pt_spec_workers(const PtSpec* spec) noexcept { return spec->spec.compute.workers; }
int pt_spec_timeout(const PtSpec* spec) noexcept { return spec->spec.compute.timeout; }
int pt_spec_server_count(const PtSpec* spec) noexcept { return static_cast<int>(spec->spec.compute.servers.size()); }
const char* pt_spec_server_name(const PtSpec* spec, int i) noexcept {
  const auto& servers = spec->spec.compute.servers;
  return i >= 0 && i < static_cast<int>(servers.size()) ? servers[i].c_str() : nullptr;
}
const char* pt_spec_listen(const PtSpec* spec) noexcept { return spec->spec.listen.c_str(); }
int64_t pt_spec_max_iterations(const PtSpec* spec) noexcept { return spec->spec.max_iterations.value_or(-1); }
PtResume pt_spec_resume(const PtSpec* spec) noexcept {
  switch (spec->spec.resume.from) {
    case pinnacle::ResumeSpec::From::latest: return PT_RESUME_LATEST;
    case pinnacle::ResumeSpec::From::run: return PT_RESUME_RUN;
    case pinnacle::ResumeSpec::From::model: return PT_RESUME_MODEL;
    case pinnacle::ResumeSpec::From::nothing: break;
  }
  return PT_RESUME_NOTHING;
}
int64_t pt_spec_resume_run(const PtSpec* spec) noexcept { return spec->spec.resume.run_id; }
const char* pt_spec_resume_model(const PtSpec* spec) noexcept { return spec->spec.resume.model.c_str(); }
int64_t pt_spec_memory_limit(const PtSpec* spec) noexcept { return spec->spec.compute.memory_limit; }
bool pt_spec_download(const PtSpec* spec) noexcept { return spec->spec.download; }

const char* pt_spec_torchscript(const PtSpec* spec) noexcept {
  return spec->spec.torchscript.empty() ? nullptr : spec->spec.torchscript.c_str();
}

const char* pt_report_svg(const char* history_json, int64_t best_iteration, const char* title) noexcept {
  static thread_local std::string svg;
  PT_ENTRY(nullptr, svg = pinnacle::render_report(pinnacle::json::parse(history_json), best_iteration, title);
           return svg.c_str(););
}

const char* pt_search_report_svg(const char* trials_json, const char* listen, const char* title) noexcept {
  static thread_local std::string svg;
  PT_ENTRY(nullptr, svg = pinnacle::render_search_report(pinnacle::json::parse(trials_json), listen, title);
           return svg.c_str(););
}

const char* pt_search_plan(const char* spec_json, const char* search_json) noexcept {
  static thread_local std::string plan;
  PT_ENTRY(nullptr, plan = pinnacle::plan_search_text(spec_json, search_json); return plan.c_str(););
}

}  // extern "C"
