// The guard every entry of the C interface runs in (pinnacle_core.h): no exception leaves an
// entry; its message and kind are kept for pt_last_error(). The torch-free entries
// (c_api_spec.cpp, in pinnacle_train.so) and the torch core's (c_api.cpp, in
// pinnacle_train_torch.so) share one record of the latest failure, c_api_spec.cpp's: the torch
// core is loaded into a process that has pinnacle_train.so already, and takes it from there.
#pragma once

#include <type_traits>

#include "pinnacle_core.h"

namespace pinnacle::c_api {

// Records a failure for pt_last_error(); one that cannot be copied reads as PT_ERROR_MEMORY.
void fail(PtErrorKind kind, const char* message) noexcept;
// A failed allocation reads differently from torch's allocator and from operator new.
bool is_allocation_failure(const char* message) noexcept;
// Records the exception being handled (call it inside a catch): the standard library's,
// nlohmann::json's and SpecError.
void fail_with_current_exception() noexcept;

// `failure` takes the body's return type (not deduced from itself, so nullptr fits a pointer).
template <class T>
struct same_type {
  using type = T;
};

// Runs `body`; an exception becomes `failure`, recorded by `FailCurrent` (which knows the
// exceptions of its side: the torch core adds torch's).
template <void (*FailCurrent)() noexcept, class F, class R = std::invoke_result_t<std::decay_t<F>>>
R guarded(typename same_type<R>::type failure, F&& body) noexcept {
  try {
    return body();
  } catch (...) {
    FailCurrent();
  }
  return failure;
}

}  // namespace pinnacle::c_api
