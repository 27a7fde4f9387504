#pragma once
// A QR code as an SVG document (libqrencode makes the matrix): what an enrolment page shows for
// an authenticator app to scan, with no image library and nothing sent to a third party.
#include <string>
#include <string_view>

namespace raptorflow::auth {

// Error correction level M, a quiet zone of 4 modules, one <path> of black modules.
// std::invalid_argument when `text` cannot be encoded (longer than a QR code holds).
std::string qr_svg(std::string_view text);

}  // namespace raptorflow::auth
