#include "password_hasher.hpp"

#include <svckit/auth/password.hpp>
#include <svckit/error.hpp>

namespace identity {

PasswordHasher::PasswordHasher(std::size_t threads, int cost, std::size_t max_waiting)
    : cost_(cost),
      max_waiting_(max_waiting),
      pool_(std::make_unique<svckit::BlockingPool>(threads)),
      dummy_hash_(svckit::auth::hash_password("not a real password", cost)) {}

template <class F>
svckit::Task<std::invoke_result_t<F&>> PasswordHasher::on_pool(F work) {
  if (waiting_.load() >= max_waiting_)
    throw svckit::ServiceUnavailable("too many password checks at once", 1);
  ++waiting_;
  struct Done {
    std::atomic<std::size_t>& n;
    ~Done() { --n; }
  } done{waiting_};
  co_return co_await pool_->run(std::move(work));
}

svckit::Task<std::string> PasswordHasher::hash(std::string password) {
  // bcrypt reads 72 bytes and stops at a NUL: either would make a hash of less than was typed.
  if (password.empty() || password.size() > svckit::auth::kMaxPasswordBytes ||
      password.find('\0') != std::string::npos)
    throw svckit::ValidationError("password", "must be 1 to 72 bytes (UTF-8), without NUL");
  int cost = cost_;
  // Named, not a temporary argument: GCC 12 destroys temporaries passed to coroutines twice.
  auto work = [password = std::move(password), cost] {
    return svckit::auth::hash_password(password, cost);
  };
  co_return co_await on_pool(std::move(work));
}

svckit::Task<bool> PasswordHasher::verify(std::string password, std::optional<std::string> hash) {
  auto work = [password = std::move(password), hash = hash.value_or(dummy_hash_),
               known = hash.has_value()] {
    return svckit::auth::verify_password(password, hash) && known;
  };
  co_return co_await on_pool(std::move(work));
}

}  // namespace identity
