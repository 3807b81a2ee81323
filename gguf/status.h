#pragma once
// Errors are values: a Status or Result<T> carries a one-line message that names the file, key or
// tensor at fault. Tools print it and exit non-zero; nothing in the library throws or aborts on bad input.
#include <string>
#include <utility>
#include <variant>

namespace kestrel {

class Status {
 public:
  Status() = default;  // ok
  static Status ok() { return Status(); }
  static Status error(std::string message) { Status s; s.failed_ = true; s.message_ = std::move(message); return s; }
  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string& message() const { return message_; }
  Status status() const { return *this; }  // lets KESTREL_RETURN_IF_ERROR take a Status or a Result

 private:
  bool failed_ = false;
  std::string message_;
};

// Either a value or an error message.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}                        // NOLINT: implicit by design
  Result(Status error) : v_(std::in_place_index<1>, Error{error.message()}) {}  // NOLINT: from Status::error(...)
  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const std::string& error() const { return std::get<1>(v_).message; }
  Status status() const { return is_ok() ? Status::ok() : Status::error(error()); }

 private:
  // A distinct error type so Result<std::string> is unambiguous.
  struct Error {
    std::string message;
  };
  std::variant<T, Error> v_;
};

}  // namespace kestrel

// Propagate an error Status/Result from an expression: KESTREL_RETURN_IF_ERROR(f(x));
#define KESTREL_RETURN_IF_ERROR(expr)                               \
  do {                                                              \
    auto kestrel_status_ = (expr);                                  \
    if (!kestrel_status_.is_ok()) return ::kestrel::Status::error(kestrel_status_.status().message()); \
  } while (0)
