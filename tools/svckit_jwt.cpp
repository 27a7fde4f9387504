// svckit-jwt: sign and verify JWTs with svckit::auth from the shell (and from interop tests).
//
//   svckit-jwt sign   --alg ALG (--secret S | --key PEM_FILE | --jwk JWK_FILE) [--kid K]
//   CLAIMS_JSON svckit-jwt verify --alg ALG (--secret S | --key PEM_FILE | --jwks JWKS_FILE)
//                     [--issuer I] [--audience A] [--type T] [--leeway SECONDS] TOKEN
//   svckit-jwt jwk    --alg ALG --key PEM_FILE [--kid K]        the public JWK of a key
//
// verify prints the claims and exits 0, or prints the reason and exits 1. Usage errors exit 2.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <svckit/auth/jwt.hpp>

namespace {

using namespace svckit::auth;

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "svckit-jwt: %s\nusage: svckit-jwt sign|verify|jwk --alg ALG (--secret S | --key "
               "FILE | --jwk FILE | --jwks FILE) [--kid K] [--issuer I] [--audience A] "
               "[--type T] [--leeway S] ARGUMENT\n",
               why.c_str());
  std::exit(2);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) usage("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Args {
  std::string command;
  std::map<std::string, std::string> options;
  std::string argument;
};

Args parse(int argc, char** argv) {
  if (argc < 2) usage("no command");
  Args a;
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) {
      if (i + 1 >= argc) usage(arg + " needs a value");
      a.options[arg.substr(2)] = argv[++i];
    } else {
      a.argument = arg;
    }
  }
  return a;
}

std::string option(const Args& a, const std::string& name, const std::string& fallback = "") {
  auto it = a.options.find(name);
  return it == a.options.end() ? fallback : it->second;
}

Key key_from(const Args& a, Algorithm alg) {
  auto kid = option(a, "kid");
  if (a.options.count("secret")) return Key::hmac(alg, option(a, "secret"), kid);
  if (a.options.count("key")) return Key::from_pem_file(alg, option(a, "key"), kid);
  if (a.options.count("jwk"))
    return Key::from_jwk(nlohmann::json::parse(read_file(option(a, "jwk"))), alg);
  usage("a key is needed: --secret, --key or --jwk");
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  auto alg = parse_algorithm(option(a, "alg"));
  if (!alg && a.command != "verify") usage("--alg must name a JWS algorithm");
  try {
    if (a.command == "sign") {
      auto claims = nlohmann::json::parse(a.argument);
      std::cout << sign(claims, key_from(a, *alg)) << "\n";
      return 0;
    }
    if (a.command == "jwk") {
      std::cout << key_from(a, *alg).public_jwk().dump() << "\n";
      return 0;
    }
    if (a.command == "verify") {
      KeySet keys = a.options.count("jwks") ? KeySet::from_jwks_file(option(a, "jwks"))
                                            : KeySet{key_from(a, *alg)};
      VerifyOptions o;
      if (a.options.count("issuer")) o.issuer = option(a, "issuer");
      if (a.options.count("audience")) o.audiences = {option(a, "audience")};
      if (a.options.count("type")) o.token_type = option(a, "type");
      o.leeway = std::chrono::seconds(std::stoi(option(a, "leeway", "30")));
      try {
        std::cout << Verifier(keys, o).verify(a.argument).claims.json().dump() << "\n";
        return 0;
      } catch (const TokenError& e) {
        std::cout << e.reason() << "\n";
        return 1;
      }
    }
  } catch (const KeyError& e) {
    usage(e.what());
  } catch (const nlohmann::json::exception& e) {
    usage(std::string("claims: ") + e.what());
  }
  usage("unknown command " + a.command);
}
