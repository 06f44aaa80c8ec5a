// Tests for logline/json.hpp: the I-JSON reader (parse_json, check_json) and the RFC 8785
// canonical writer.
#include "logline/json.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/catch.hpp"

using logline::canonical;
using logline::check_json;
using logline::errc;
using logline::json;
using logline::parse_json;

namespace {

#define CHECK_CONTAINS(haystack, needle)                                             \
  do {                                                                               \
    const std::string check_contains_h_ = (haystack);                                \
    INFO("message: " << check_contains_h_ << "\nexpected to contain: " << (needle)); \
    CHECK(check_contains_h_.find(needle) != std::string::npos);                      \
  } while (false)

std::string number(double value) {
  std::string out;
  logline::write_canonical_number(out, value);
  return out;
}

std::string number_bits(std::uint64_t bits) { return number(std::bit_cast<double>(bits)); }

// Canonical form of text, which must be accepted.
std::string canon(std::string_view text) {
  auto parsed = parse_json(text);
  INFO("input: " << text << "\nerror: " << (parsed ? std::string() : parsed.error().message()));
  REQUIRE(parsed.has_value());
  return canonical(*parsed);
}

// The refusal message for text, which must be refused with errc::invalid_json.
std::string refusal(std::string_view text, std::size_t max_depth = 64) {
  auto parsed = parse_json(text, max_depth);
  INFO("input: " << text);
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error() == errc::invalid_json);
  return parsed.error().message();
}

std::string check_refusal(const json& value, std::size_t max_depth = 64) {
  auto checked = check_json(value, max_depth);
  REQUIRE_FALSE(checked.has_value());
  CHECK(checked.error() == errc::invalid_json);
  return checked.error().message();
}

struct number_vector {
  std::uint64_t bits;
  const char* text;
};

// RFC 8785 Appendix B: IEEE-754 bits -> canonical JSON number.
constexpr number_vector rfc8785_numbers[] = {
    {0x0000000000000000ULL, "0"},
    {0x8000000000000000ULL, "0"},
    {0x0000000000000001ULL, "5e-324"},
    {0x8000000000000001ULL, "-5e-324"},
    {0x7fefffffffffffffULL, "1.7976931348623157e+308"},
    {0xffefffffffffffffULL, "-1.7976931348623157e+308"},
    {0x4340000000000000ULL, "9007199254740992"},
    {0xc340000000000000ULL, "-9007199254740992"},
    {0x4430000000000000ULL, "295147905179352830000"},
    {0x44b52d02c7e14af5ULL, "9.999999999999997e+22"},
    {0x44b52d02c7e14af6ULL, "1e+23"},
    {0x44b52d02c7e14af7ULL, "1.0000000000000001e+23"},
    {0x444b1ae4d6e2ef4eULL, "999999999999999700000"},
    {0x444b1ae4d6e2ef4fULL, "999999999999999900000"},
    {0x444b1ae4d6e2ef50ULL, "1e+21"},
    {0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7"},
    {0x3eb0c6f7a0b5ed8dULL, "0.000001"},
    {0x41b3de4355555553ULL, "333333333.3333332"},
    {0x41b3de4355555554ULL, "333333333.33333325"},
    {0x41b3de4355555555ULL, "333333333.3333333"},
    {0x41b3de4355555556ULL, "333333333.3333334"},
    {0x41b3de4355555557ULL, "333333333.33333343"},
    {0xbecbf647612f3696ULL, "-0.0000033333333333333333"},
    {0x43143ff3c1cb0959ULL, "1424953923781206.2"},
};

// Generated with node (V8's Number.prototype.toString, i.e. String(x)) by this script:
//   let s = 0x9E3779B97F4A7C15n;
//   function next() { s ^= s >> 12n; s ^= (s << 25n) & 0xFFFFFFFFFFFFFFFFn; s ^= s >> 27n;
//                     return (s * 0x2545F4914F6CDD1Dn) & 0xFFFFFFFFFFFFFFFFn; }
//   120 values next(); 60 with a random sign/mantissa and a binary exponent in [-30, 80);
//   20 subnormals (next() & 0x000FFFFFFFFFFFFF); and for e in [-8, 23] the doubles just below,
//   at and just above Number('1e' + e); non-finite values skipped.
constexpr number_vector es6_numbers[] = {
    {0x0d83b3e29a21487aULL, "1.4427754422401724e-243"},
    {0x54c44c79f1fe9d67ULL, "2.2199212226988893e+100"},
    {0xa845f342007a0e78ULL, "-1.1141679308961279e-114"},
    {0x7d6e0b878a794779ULL, "1.5351064531638965e+296"},
    {0x90d8d6e5a10dd485ULL, "-1.638344060600543e-227"},
    {0x9de6cf0f6d5a586eULL, "-1.2377569472211426e-164"},
    {0xd566404840a2ab9dULL, "-2.4918394899649603e+103"},
    {0x674bfece098c4828ULL, "3.897919830026583e+189"},
    {0x87d6e3d2afc200acULL, "-6.769996488298759e-271"},
    {0xd2f57ac518cbb99dULL, "-4.375465676347136e+91"},
    {0x002a74b4aeb82db2ULL, "7.358286429165253e-308"},
    {0xbc858f30d87296d1ULL, "-3.739949161675147e-17"},
    {0x26d141d7b47a58a8ULL, "1.0442200637596018e-121"},
    {0xec0202237faa74fdULL, "-1.89452780564266e+212"},
    {0x13404cd3e565dfa1ULL, "5.9104916336796e-216"},
    {0x54b07c175848b28dULL, "9.014060074073613e+99"},
    {0x25072963263f0842ULL, "2.6104882325689648e-130"},
    {0x02ecc50074cccf5fULL, "1.4076903861379024e-294"},
    {0xdacd1f060d908a3dULL, "-2.5232321933596744e+129"},
    {0x3c9ae8905bd77ae6ULL, "9.335744933994957e-17"},
    {0x9f7bc7db18d2566cULL, "-5.0585407392329175e-157"},
    {0xac76aeb5a047dbc6ULL, "-1.6990709035471285e-94"},
    {0xb71eb0ae33b29f39ULL, "-3.440485714435293e-43"},
    {0x3df20c533dcc306cULL, "2.6263507844002757e-10"},
    {0xabcdbaa682de9209ULL, "-1.0873596857482799e-97"},
    {0x6786d31b243ac0a4ULL, "5.084767197776064e+190"},
    {0x849d9d80831e02d9ULL, "-1.9449096231843793e-286"},
    {0xe2c9ab92ef636718ULL, "-7.568625859645095e+167"},
    {0x0296f3277cfd51acULL, "3.509163337917277e-296"},
    {0x0be60e507909c1fdULL, "2.406682039091876e-251"},
    {0x7956b9155ffd2adbULL, "3.146888599610029e+276"},
    {0x88a5489881b0e754ULL, "-5.156778470917841e-267"},
    {0xc99e7d7a6b1d3ccdULL, "-4.351699510562294e+46"},
    {0x0db292f12f361b02ULL, "1.0880999080775699e-242"},
    {0xe7e8d30a316965cfULL, "-3.5393666730024944e+192"},
    {0x88048db0941040fbULL, "-4.86316685362126e-270"},
    {0x1d1bbc9e745ed9c7ULL, "1.837378708547052e-168"},
    {0x22717eef126d3a5aULL, "8.967197795417662e-143"},
    {0x834bc6881be7bfc5ULL, "-8.697938603198972e-293"},
    {0x1301453fc472f3f7ULL, "3.913975954059015e-217"},
    {0x24a212adf6cfeee2ULL, "3.1827415027932726e-132"},
    {0xeef2fc479582dad0ULL, "-2.8109818889284195e+226"},
    {0x7bb62743d4a82368ULL, "8.433266893383041e+287"},
    {0xe7b4ef83dc7c569aULL, "-3.7311507119552926e+191"},
    {0x1c97d6c17a1ce09bULL, "6.168626797590755e-171"},
    {0xaeb34774571e0746ULL, "-9.924037513175321e-84"},
    {0x8daca89158b251f3ULL, "-8.394338450683387e-243"},
    {0xfaff30d01d4b1980ULL, "-2.89881637284993e+284"},
    {0xec4798f19082ab12ULL, "-3.9720230461312206e+213"},
    {0xe5215db40ab9ce72ULL, "-1.4074337013955528e+179"},
    {0xc3e9ce5aedcece77ULL, "-14876189388591840000"},
    {0x49d1dcfb32d131edULL, "4.079235580945484e+47"},
    {0x918e9e3e333146e3ULL, "-4.13591871924053e-224"},
    {0x50d51696787f55b4ULL, "2.5004550301232017e+81"},
    {0xaa58a03be88d5002ULL, "-1.0737270106920687e-104"},
    {0xda37a1fd3c69febcULL, "-3.999381473822603e+126"},
    {0x22fb986fba1247f5ULL, "3.6207587224201364e-140"},
    {0x2cd822cec6864769ULL, "1.1570871195067811e-92"},
    {0x2f8b786e4ea0081eULL, "1.1583949755500868e-79"},
    {0x993065d78ea4114dULL, "-2.3554225627402163e-187"},
    {0x2b4bbec88b15fc32ULL, "3.964058514417887e-100"},
    {0xf5e013034672ad9eULL, "-6.17870555989076e+259"},
    {0x9c29a128fd9ef57cULL, "-5.181233598032867e-173"},
    {0x1636f8e20698e92dULL, "1.1723181296022678e-201"},
    {0xf45a4999063c350fULL, "-3.011379740813789e+252"},
    {0x16513f36f7cb2f45ULL, "3.520584468044824e-201"},
    {0x20ce772c97ad0958ULL, "1.1633779705291942e-150"},
    {0x8e8c2e8e1c50c30aULL, "-1.352455665809795e-238"},
    {0x8f90bc11de2c3b28ULL, "-1.0526401862162723e-233"},
    {0x1d9cd265caf9aaaeULL, "4.887699450767311e-166"},
    {0x85e846dd95161004ULL, "-3.3435345735168984e-280"},
    {0xcba1c108a6de41c7ULL, "-2.176638758053522e+56"},
    {0x1a5c7d55f70f690cULL, "1.0727755633490885e-181"},
    {0xdf299a6336a13a58ULL, "-2.619027179482821e+150"},
    {0xb51970ad741828d5ULL, "-6.640188114582706e-53"},
    {0x2150ff5e05151306ULL, "3.323287522235822e-148"},
    {0x8e9e171e8959989eULL, "-2.8880858615536703e-238"},
    {0xc1560fa6a2c6a718ULL, "-5783194.543374799"},
    {0x401f06c6c16c1346ULL, "7.756617567273514"},
    {0x22cb9be13e9f2b4bULL, "4.5281544928189104e-141"},
    {0xdb6e9abf1bd51537ULL, "-2.7153955290989627e+132"},
    {0x59ce4401bed86164ULL, "4.0014579324032256e+124"},
    {0x23a0bd555b58c420ULL, "4.498177973339891e-137"},
    {0xfd6402dde56b1fd6ULL, "-1.0224424023688048e+296"},
    {0xf03b990bf89bd645ULL, "-4.284614422380644e+232"},
    {0x607e3cd84c201de6ULL, "6.486735111873042e+156"},
    {0x4ef15de9ff656da2ULL, "1.917785692213565e+72"},
    {0xd527a619652f472fULL, "-1.6552291079447678e+102"},
    {0x22ff9cd34b252992ULL, "4.1478422672088957e-140"},
    {0x0f7a4199ab0018f9ULL, "4.128916481009046e-234"},
    {0x789c99b9b7104bfcULL, "9.670068783724523e+272"},
    {0x047e5413ef331597ULL, "4.9793661468752357e-287"},
    {0x31e064e2ba08761bULL, "1.9002824793624192e-68"},
    {0xf2a4cdf6b08ccfacULL, "-1.7756801181717152e+244"},
    {0xf9bb2c6aa3b74b51ULL, "-2.4084721338093905e+278"},
    {0x6e649be9309a7aadULL, "5.959698408205065e+223"},
    {0x788ba774a28d717dULL, "4.675047099658145e+272"},
    {0x3b786508b3474f50ULL, "3.2286068985007987e-22"},
    {0x7a92aca2442cc9afULL, "2.711823796198327e+282"},
    {0x0f3d9de53f6ef4b2ULL, "2.9108593979880105e-235"},
    {0x2983ceb87bd3bfa0ULL, "1.0542443770843815e-108"},
    {0x81c12d1d5e35716dULL, "-3.2059899948478435e-300"},
    {0xa9490f9724be51efULL, "-8.336586392798153e-110"},
    {0x090c066ce32f7b0fULL, "4.3457124274385074e-265"},
    {0x6736980b063d46fcULL, "1.5729280119576982e+189"},
    {0x22b6f7ba6874f40eULL, "1.8834726953872893e-141"},
    {0x13aefbb6611d895eULL, "7.190185349812358e-214"},
    {0x8f253558e6843a7aULL, "-1.0422239742025086e-235"},
    {0x51ebb86d8d0c734dULL, "4.308128060092485e+86"},
    {0x90180edcff467a55ULL, "-3.8740385327064744e-231"},
    {0x04427a2d1faf915eULL, "3.792027842820625e-288"},
    {0xd4867309eefba770ULL, "-1.5344500472254965e+99"},
    {0x1aea2e225b7214bcULL, "5.0473769894007e-179"},
    {0x2e50398765648c31ULL, "1.3049639383134882e-85"},
    {0x76431f96f583c75bULL, "4.704476408030138e+261"},
    {0x280033594d19939eULL, "5.13951665842515e-116"},
    {0x58190ce2c2414047ULL, "2.4675836436146527e+116"},
    {0x1327051beb2689c5ULL, "2.0867846770694275e-216"},
    {0xb3144734100136cdULL, "-1.2323355818594613e-62"},
    {0x4f7a4d14869444ceULL, "7.435201843954484e+74"},
    {0xbf1e11ec791b3496ULL, "-0.00011470800225339898"},
    {0x412c9690ee0c70d1ULL, "936776.4649386649"},
    {0xc34c7fe4035c2a04ULL, "-16043833267082248"},
    {0xc062c6b5864ba0d0ULL, "-150.20965876361015"},
    {0x42267a3122477386ULL, "48269660451.72563"},
    {0x3f77a15651b04305ULL, "0.0057690975036315305"},
    {0xbef9f0d1dedd2e28ULL, "-0.000024738981600420717"},
    {0x4199942274b9b172ULL, "107284637.18134096"},
    {0xc19adbf218811247ULL, "-112655494.12604629"},
    {0x3ead1a15ee91c75aULL, "8.673041210895038e-7"},
    {0x431bb671fcd0dcabULL, "1950106265073450.8"},
    {0xc1cea8985c782934ULL, "-1028731064.9387574"},
    {0x3f9a4c675825d403ULL, "0.025682081942665757"},
    {0xc3d4b2069ed3baa1ULL, "-5965046823359514000"},
    {0x40028ab89c3bd9d5ULL, "2.3177349286809013"},
    {0x43710b625e28bf1bULL, "76761467496165810"},
    {0x419923e26247e3c8ULL, "105445528.57020485"},
    {0xc3c392d67e3942b3ULL, "-2820850941870565000"},
    {0x405e93d5dbaab15aULL, "122.30992786092011"},
    {0x3ed19d700fe8ccc6ULL, "0.000004199741168653398"},
    {0xc201e9d793ad44acULL, "-9617207925.658531"},
    {0xc0496f17c14dfcd3ULL, "-50.86791244800556"},
    {0x40fee5858d0706a9ULL, "126552.34693052866"},
    {0xc2a5e072b1779c58ULL, "-12026870545358.172"},
    {0xc38e1df029239db5ULL, "-271269331868038820"},
    {0xc3b0e7d72114b9b5ULL, "-1218178761308616000"},
    {0x40c005cde3a759f5ULL, "8203.608509940075"},
    {0xbef08804f3c63ce9ULL, "-0.00001576550060772018"},
    {0xc4604a8b6f754118ULL, "-2.40415531767453e+21"},
    {0x40e5e97704a221a2ULL, "44875.719315591516"},
    {0xc3221937acfa0d14ULL, "-2547138248377994"},
    {0xc4754f5910cbfcc2ULL, "-6.289587923490066e+21"},
    {0xc44335df5f82a553ULL, "-708740127638044400000"},
    {0xc33e771698361ee2ULL, "-8575188227989218"},
    {0xbe4befefeed2ea6aULL, "-1.3009298050589407e-8"},
    {0xc32d09bb770227d6ULL, "-4086737542386667"},
    {0x4086bfb0b2aeadb3ULL, "727.961278309513"},
    {0x3fb46f83ef7f574aULL, "0.07982658955674285"},
    {0x41835950923b5ebcULL, "40577554.278989285"},
    {0xbee5e00d40a66863ULL, "-0.00001043090926060672"},
    {0xc1a91ee84ad531b1ULL, "-210727973.41639474"},
    {0xc12ba5abbdfb7ec3ULL, "-905941.8710593808"},
    {0xc0b4d4e7aea01f97ULL, "-5332.905008323395"},
    {0xbf22dec97762a563ULL, "-0.0001439686709024209"},
    {0x3f09d11eeaf9dd00ULL, "0.000049241786993664896"},
    {0x4221e3f1e9f98734ULL, "38419363068.76407"},
    {0x44d3fce7352f740eULL, "3.7756081182268036e+23"},
    {0xc1ca8cdeb00ec899ULL, "-890879328.1154968"},
    {0xc1eec149d824aa9dULL, "-4127870657.145827"},
    {0x3e7fe23b9c74b013ULL, "1.1877612059581192e-7"},
    {0xc315e97def050487ULL, "-1541925400297761.8"},
    {0xc19d2f24c62fb8bfULL, "-122407217.54660319"},
    {0x43f58fe39cde9d71ULL, "24859370549685980000"},
    {0xc3c957269fe4bebdULL, "-3651941284202773000"},
    {0xc1cb9264a8d71050ULL, "-925157713.6801853"},
    {0xc1cdb6dbd56d7843ULL, "-997046186.8552326"},
    {0x43df9eafbb3ccec0ULL, "9113806720839909000"},
    {0xbf8383e0da3753afULL, "-0.009528881701877127"},
    {0xc1d71ea9f0a64b9bULL, "-1551542210.5983646"},
    {0xc4189d6bb89933aaULL, "-113516305205907060000"},
    {0x0005f49c27a4f6d2ULL, "8.2821528582793e-309"},
    {0x000b1f74aca9fdf1ULL, "1.5468260190526597e-308"},
    {0x000e2efdd6b174b2ULL, "1.972466893165037e-308"},
    {0x0003d02eade2ff56ULL, "5.3029243350874e-309"},
    {0x0003d4a260f4c976ULL, "5.327108710299035e-309"},
    {0x000bb8c4b1d51ca0ULL, "1.6301101526978765e-308"},
    {0x0002543c3eebd7d6ULL, "3.238934711070153e-309"},
    {0x0008cda7d0a288cdULL, "1.224255371044844e-308"},
    {0x000562db09123352ULL, "7.490370034561877e-309"},
    {0x000e98e16435977fULL, "2.029989006104668e-308"},
    {0x0007425150958fa4ULL, "1.0094956036064543e-308"},
    {0x0006c1042f59719fULL, "9.39255145444651e-309"},
    {0x000845d482d5c643ULL, "1.150470810510705e-308"},
    {0x0004fb6dde1b056cULL, "6.92852564755426e-309"},
    {0x00033c7cdeebb9dfULL, "4.50060179098226e-309"},
    {0x0007c5087894d2c6ULL, "1.0805042802974795e-308"},
    {0x0009ee3616b2696bULL, "1.381007780870769e-308"},
    {0x0009ff5f7b408003ULL, "1.390330541885773e-308"},
    {0x000eeae8cecbdb16ULL, "2.0745496792234415e-308"},
    {0x000c16105075f7f2ULL, "1.680791093051171e-308"},
    {0x3e45798ee2308c39ULL, "9.999999999999999e-9"},
    {0x3e45798ee2308c3aULL, "1e-8"},
    {0x3e45798ee2308c3bULL, "1.0000000000000002e-8"},
    {0x3e7ad7f29abcaf47ULL, "9.999999999999998e-8"},
    {0x3e7ad7f29abcaf48ULL, "1e-7"},
    {0x3e7ad7f29abcaf49ULL, "1.0000000000000001e-7"},
    {0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7"},
    {0x3eb0c6f7a0b5ed8dULL, "0.000001"},
    {0x3eb0c6f7a0b5ed8eULL, "0.0000010000000000000002"},
    {0x3ee4f8b588e368f0ULL, "0.000009999999999999999"},
    {0x3ee4f8b588e368f1ULL, "0.00001"},
    {0x3ee4f8b588e368f2ULL, "0.000010000000000000003"},
    {0x3f1a36e2eb1c432cULL, "0.00009999999999999999"},
    {0x3f1a36e2eb1c432dULL, "0.0001"},
    {0x3f1a36e2eb1c432eULL, "0.00010000000000000002"},
    {0x3f50624dd2f1a9fbULL, "0.0009999999999999998"},
    {0x3f50624dd2f1a9fcULL, "0.001"},
    {0x3f50624dd2f1a9fdULL, "0.0010000000000000002"},
    {0x3f847ae147ae147aULL, "0.009999999999999998"},
    {0x3f847ae147ae147bULL, "0.01"},
    {0x3f847ae147ae147cULL, "0.010000000000000002"},
    {0x3fb9999999999999ULL, "0.09999999999999999"},
    {0x3fb999999999999aULL, "0.1"},
    {0x3fb999999999999bULL, "0.10000000000000002"},
    {0x3fefffffffffffffULL, "0.9999999999999999"},
    {0x3ff0000000000000ULL, "1"},
    {0x3ff0000000000001ULL, "1.0000000000000002"},
    {0x4023ffffffffffffULL, "9.999999999999998"},
    {0x4024000000000000ULL, "10"},
    {0x4024000000000001ULL, "10.000000000000002"},
    {0x4058ffffffffffffULL, "99.99999999999999"},
    {0x4059000000000000ULL, "100"},
    {0x4059000000000001ULL, "100.00000000000001"},
    {0x408f3fffffffffffULL, "999.9999999999999"},
    {0x408f400000000000ULL, "1000"},
    {0x408f400000000001ULL, "1000.0000000000001"},
    {0x40c387ffffffffffULL, "9999.999999999998"},
    {0x40c3880000000000ULL, "10000"},
    {0x40c3880000000001ULL, "10000.000000000002"},
    {0x40f869ffffffffffULL, "99999.99999999999"},
    {0x40f86a0000000000ULL, "100000"},
    {0x40f86a0000000001ULL, "100000.00000000001"},
    {0x412e847fffffffffULL, "999999.9999999999"},
    {0x412e848000000000ULL, "1000000"},
    {0x412e848000000001ULL, "1000000.0000000001"},
    {0x416312cfffffffffULL, "9999999.999999998"},
    {0x416312d000000000ULL, "10000000"},
    {0x416312d000000001ULL, "10000000.000000002"},
    {0x4197d783ffffffffULL, "99999999.99999999"},
    {0x4197d78400000000ULL, "100000000"},
    {0x4197d78400000001ULL, "100000000.00000001"},
    {0x41cdcd64ffffffffULL, "999999999.9999999"},
    {0x41cdcd6500000000ULL, "1000000000"},
    {0x41cdcd6500000001ULL, "1000000000.0000001"},
    {0x4202a05f1fffffffULL, "9999999999.999998"},
    {0x4202a05f20000000ULL, "10000000000"},
    {0x4202a05f20000001ULL, "10000000000.000002"},
    {0x42374876e7ffffffULL, "99999999999.99998"},
    {0x42374876e8000000ULL, "100000000000"},
    {0x42374876e8000001ULL, "100000000000.00002"},
    {0x426d1a94a1ffffffULL, "999999999999.9999"},
    {0x426d1a94a2000000ULL, "1000000000000"},
    {0x426d1a94a2000001ULL, "1000000000000.0001"},
    {0x42a2309ce53fffffULL, "9999999999999.998"},
    {0x42a2309ce5400000ULL, "10000000000000"},
    {0x42a2309ce5400001ULL, "10000000000000.002"},
    {0x42d6bcc41e8fffffULL, "99999999999999.98"},
    {0x42d6bcc41e900000ULL, "100000000000000"},
    {0x42d6bcc41e900001ULL, "100000000000000.02"},
    {0x430c6bf52633ffffULL, "999999999999999.9"},
    {0x430c6bf526340000ULL, "1000000000000000"},
    {0x430c6bf526340001ULL, "1000000000000000.1"},
    {0x4341c37937e07fffULL, "9999999999999998"},
    {0x4341c37937e08000ULL, "10000000000000000"},
    {0x4341c37937e08001ULL, "10000000000000002"},
    {0x4376345785d89fffULL, "99999999999999980"},
    {0x4376345785d8a000ULL, "100000000000000000"},
    {0x4376345785d8a001ULL, "100000000000000020"},
    {0x43abc16d674ec7ffULL, "999999999999999900"},
    {0x43abc16d674ec800ULL, "1000000000000000000"},
    {0x43abc16d674ec801ULL, "1000000000000000100"},
    {0x43e158e460913cffULL, "9999999999999998000"},
    {0x43e158e460913d00ULL, "10000000000000000000"},
    {0x43e158e460913d01ULL, "10000000000000002000"},
    {0x4415af1d78b58c3fULL, "99999999999999980000"},
    {0x4415af1d78b58c40ULL, "100000000000000000000"},
    {0x4415af1d78b58c41ULL, "100000000000000020000"},
    {0x444b1ae4d6e2ef4fULL, "999999999999999900000"},
    {0x444b1ae4d6e2ef50ULL, "1e+21"},
    {0x444b1ae4d6e2ef51ULL, "1.0000000000000001e+21"},
    {0x4480f0cf064dd591ULL, "9.999999999999998e+21"},
    {0x4480f0cf064dd592ULL, "1e+22"},
    {0x4480f0cf064dd593ULL, "1.0000000000000002e+22"},
    {0x44b52d02c7e14af5ULL, "9.999999999999997e+22"},
    {0x44b52d02c7e14af6ULL, "1e+23"},
    {0x44b52d02c7e14af7ULL, "1.0000000000000001e+23"},
};

// ---- an independent reference canonicalizer for the property test ----------------------------

std::u16string to_utf16(std::string_view utf8) {
  std::u16string out;
  for (std::size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    char32_t cp;
    std::size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if (c < 0xE0) {
      cp = c & 0x1F;
      len = 2;
    } else if (c < 0xF0) {
      cp = c & 0x0F;
      len = 3;
    } else {
      cp = c & 0x07;
      len = 4;
    }
    for (std::size_t k = 1; k < len; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

void reference_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// Keys sorted as std::u16string; numbers through write_canonical_number (checked on its own
// against RFC 8785 and node above).
void reference_canonical(std::string& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object: {
      std::vector<std::pair<std::u16string, const std::pair<const std::string, json>*>> members;
      for (const auto& member : v.get_ref<const json::object_t&>())
        members.emplace_back(to_utf16(member.first), &member);
      std::sort(members.begin(), members.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (i) out += ',';
        reference_string(out, members[i].second->first);
        out += ':';
        reference_canonical(out, members[i].second->second);
      }
      out += '}';
      return;
    }
    case json::value_t::array:
      out += '[';
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        reference_canonical(out, v[i]);
      }
      out += ']';
      return;
    case json::value_t::string:
      reference_string(out, v.get_ref<const std::string&>());
      return;
    case json::value_t::number_integer:
      out += std::to_string(v.get<std::int64_t>());
      return;
    case json::value_t::number_unsigned:
      out += std::to_string(v.get<std::uint64_t>());
      return;
    case json::value_t::number_float:
      logline::write_canonical_number(out, v.get<double>());
      return;
    case json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    default:
      out += "null";
      return;
  }
}

std::string reference_canonical(const json& v) {
  std::string out;
  reference_canonical(out, v);
  return out;
}

// ---- random documents ------------------------------------------------------------------------

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

struct generator {
  std::mt19937_64 rng;
  explicit generator(std::uint64_t seed) : rng(seed) {}

  std::uint64_t below(std::uint64_t n) { return rng() % n; }

  char32_t code_point() {
    switch (below(8)) {
      case 0:
        return static_cast<char32_t>(1 + below(0x1F));  // C0 controls (not U+0000)
      case 1:
        return static_cast<char32_t>(0x80 + below(0x780));
      case 2:
        return static_cast<char32_t>(0x800 + below(0xD800 - 0x800));
      case 3:
        return static_cast<char32_t>(0xE000 + below(0x2000));  // U+E000..U+FFFF
      case 4:
        return static_cast<char32_t>(0x10000 + below(0x100000));
      case 5:
        return U"\"\\/\x7f\u2028\u2029"[below(6)];
      default:
        return static_cast<char32_t>(0x20 + below(0x5F));
    }
  }

  std::string text(std::size_t max_len) {
    std::string out;
    const std::size_t n = below(max_len + 1);
    for (std::size_t i = 0; i < n; ++i) append_utf8(out, code_point());
    return out;
  }

  // A double whose shortest decimal has at most 15 digits, or any finite double.
  double real() {
    if (below(4) == 0) {
      double d;
      do d = std::bit_cast<double>(rng());
      while (!std::isfinite(d));
      return d;
    }
    const std::string digits =
        std::to_string(rng() % 1'000'000'000'000'000ULL).substr(0, 1 + below(15));
    const int exponent = static_cast<int>(below(80)) - 40;
    double d = std::strtod((digits + "e" + std::to_string(exponent)).c_str(), nullptr);
    return below(2) ? -d : d;
  }

  json value(int depth) {
    const std::uint64_t kind = below(depth >= 5 ? 6 : 9);
    switch (kind) {
      case 0:
        return nullptr;
      case 1:
        return below(2) == 0;
      case 2:
        return static_cast<std::int64_t>(below(1ULL << 54)) - (std::int64_t{1} << 53);
      case 3:
        return static_cast<std::int64_t>(below(2001)) - 1000;
      case 4:
        return real();
      case 5:
        return text(12);
      case 6:
      case 7: {
        json object = json::object();
        const std::size_t n = below(7);
        for (std::size_t i = 0; i < n; ++i) object[text(4)] = value(depth + 1);
        return object;
      }
      default: {
        json array = json::array();
        const std::size_t n = below(6);
        for (std::size_t i = 0; i < n; ++i) array.push_back(value(depth + 1));
        return array;
      }
    }
  }

  std::string space() {
    static constexpr const char* spaces[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    return spaces[below(7)];
  }

  // A JSON spelling of a string with random (valid) escapes.
  void spell_string(std::string& out, std::string_view s) {
    out += '"';
    const std::u16string units = to_utf16(s);
    std::size_t byte = 0;
    for (std::size_t i = 0; i < units.size(); ++i) {
      const char16_t u = units[i];
      const bool pair = u >= 0xD800 && u <= 0xDBFF;
      const std::size_t len = u < 0x80 ? 1 : u < 0x800 ? 2 : pair ? 4 : 3;
      const bool must = u < 0x20 || u == '"' || u == '\\';
      if (must || below(4) == 0) {
        char buf[16];
        if (u == '/' && below(2)) {
          out += "\\/";
        } else if (u == '\n' && below(2)) {
          out += "\\n";
        } else {
          std::snprintf(buf, sizeof buf, below(2) ? "\\u%04x" : "\\u%04X",
                        static_cast<unsigned>(u));
          out += buf;
          if (pair) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(units[i + 1]));
            out += buf;
          }
        }
      } else {
        out.append(s.substr(byte, len));
      }
      if (pair) ++i;
      byte += len;
    }
    out += '"';
  }

  // Another spelling of the same decimal value: the shortest digits, moved about.
  void spell_number(std::string& out, const json& v) {
    if (!v.is_number_float()) {
      out += v.dump();
      return;
    }
    char buf[64];
    const auto res =
        std::to_chars(buf, buf + sizeof buf, v.get<double>(), std::chars_format::scientific);
    std::string sci(buf, res.ptr);  // d[.ddd]e±XX, shortest round-trip digits
    const std::size_t e = sci.find('e');
    std::string mantissa = sci.substr(0, e);
    const int exponent = std::stoi(sci.substr(e + 1));
    std::string sign;
    if (mantissa[0] == '-') {
      sign = "-";
      mantissa.erase(0, 1);
    }
    std::string digits = mantissa;
    digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
    // value = 0.digits * 10^(exponent + 1)
    switch (below(3)) {
      case 0:
        out += sign + mantissa + (below(2) ? "E" : "e") + std::to_string(exponent);
        break;
      case 1:
        out +=
            sign + "0." + digits + std::string(below(3), '0') + "e" + std::to_string(exponent + 1);
        break;
      default: {
        const int shifted = exponent + 1 - static_cast<int>(digits.size());
        out += sign + digits + (below(2) ? ".0" : "") + "e" +
               (shifted >= 0 && below(2) ? "+" : "") + std::to_string(shifted);
        break;
      }
    }
  }

  void spell(std::string& out, const json& v) {
    out += space();
    if (v.is_object()) {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : v.items()) {
        if (!first) out += ',';
        first = false;
        out += space();
        spell_string(out, key);
        out += space() + ':';
        spell(out, member);
      }
      out += space() + '}';
    } else if (v.is_array()) {
      out += '[';
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        spell(out, v[i]);
      }
      out += space() + ']';
    } else if (v.is_string()) {
      spell_string(out, v.get_ref<const std::string&>());
    } else if (v.is_number()) {
      spell_number(out, v);
    } else {
      out += v.dump();
    }
    out += space();
  }
};

}  // namespace

// ---- numbers ---------------------------------------------------------------------------------

TEST_CASE("Numbers are written in ECMAScript form as listed in RFC 8785 Appendix B",
          "[core][json]") {
  for (const auto& v : rfc8785_numbers) {
    INFO("bits 0x" << std::hex << v.bits);
    CHECK(number_bits(v.bits) == v.text);
  }
}

TEST_CASE("Numbers are written exactly as node's Number.prototype.toString writes them",
          "[core][json]") {
  for (const auto& v : es6_numbers) {
    INFO("bits 0x" << std::hex << v.bits);
    CHECK(number_bits(v.bits) == v.text);
  }
}

TEST_CASE("Number layout switches between plain and exponent notation at 1e21 and 1e-6",
          "[core][json]") {
  CHECK(number(-0.0) == "0");
  CHECK(number(1e21) == "1e+21");
  CHECK(number(1e20) == "100000000000000000000");
  CHECK(number(123e18) == "123000000000000000000");
  CHECK(number(1e-6) == "0.000001");
  CHECK(number(1e-7) == "1e-7");
  CHECK(number(1.5e-7) == "1.5e-7");
  CHECK(number(-1.5e-7) == "-1.5e-7");
  CHECK(number(1.5) == "1.5");
  CHECK(number(0.1) == "0.1");
  CHECK(number(-42) == "-42");
  CHECK(number(123456.789) == "123456.789");
  CHECK(number(1.2345e25) == "1.2345e+25");
  CHECK(number(std::numeric_limits<double>::denorm_min()) == "5e-324");
  CHECK(number(std::numeric_limits<double>::min()) == "2.2250738585072014e-308");
}

TEST_CASE("Every node-printed number is accepted and canonicalizes to itself", "[core][json]") {
  for (const auto& v : es6_numbers) {
    CHECK(canon(v.text) == v.text);
    CHECK(canon(std::string("[") + v.text + "]") == std::string("[") + v.text + "]");
  }
}

TEST_CASE("An 18-significant-digit spelling that differs from the shortest form is refused",
          "[core][json]") {
  int refused = 0;
  for (const auto& v : es6_numbers) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17e", std::bit_cast<double>(v.bits));
    const std::string text = buf;
    auto parsed = parse_json(text);
    // The 18-significant-digit rendering equals the shortest one only when the extra digits are zeros.
    if (!parsed) {
      ++refused;
      CHECK_CONTAINS(parsed.error().message(), "cannot be represented exactly");
    } else {
      CHECK(canonical(*parsed) == v.text);
    }
  }
  CHECK(refused > 200);
}

TEST_CASE("Integers keep their nlohmann types and canonicalize through the same rule",
          "[core][json]") {
  auto parsed = parse_json(
      R"([-42, 9007199254740991, 18014398509481984, 100000000000000000, 12345678901234567000])");
  REQUIRE(parsed.has_value());
  CHECK((*parsed)[0].is_number_integer());
  CHECK((*parsed)[1].get<std::int64_t>() == 9007199254740991);
  CHECK((*parsed)[2].get<std::uint64_t>() ==
        18014398509481984ULL);  // 2^54, ES6 prints all its digits
  CHECK(canonical(*parsed) ==
        "[-42,9007199254740991,18014398509481984,100000000000000000,12345678901234567000]");
  CHECK(canonical(json(std::int64_t{-9007199254740992})) == "-9007199254740992");
  CHECK(canonical(json(std::uint64_t{1} << 53)) == "9007199254740992");
}

TEST_CASE("Numbers spelled differently but equal in value get the same canonical form",
          "[core][json]") {
  CHECK(canon("[4.50, 45e-1, 0.45E1, 450e-2, 4.5000000000000000000000000000]") ==
        "[4.5,4.5,4.5,4.5,4.5]");
  CHECK(canon("[-0, -0.0, 0e10, 0.000e-99999999999999999999]") == "[0,0,0,0]");
  CHECK(canon("[1E30, 1e+30, 10e29, 0.000000000000000000000000001, 2e-3]") ==
        "[1e+30,1e+30,1e+30,1e-27,0.002]");
  CHECK(canon("[1000000000000000000000, 1e21, 100e19]") == "[1e+21,1e+21,1e+21]");
  CHECK(canon("[0.0000001, 100E-9]") == "[1e-7,1e-7]");
}

TEST_CASE("The number rule accepts numbers whose canonical form denotes exactly the value written",
          "[core][json]") {
  for (const char* text :
       {"0.1", "1e+21", "1e-7", "123456789012", "-42", "9007199254740991", "1.5",
        "100000000000000000", "-9007199254740991", "5e-324", "1.7976931348623157e+308",
        "295147905179352830000", "0.000001", "333333333.3333333"}) {
    INFO(text);
    CHECK(parse_json(text).has_value());
  }
}

TEST_CASE("The number rule refuses numbers the canonical form cannot represent exactly",
          "[core][json]") {
  CHECK_CONTAINS(refusal("9007199254740993"),
                 "number 9007199254740993 cannot be represented exactly");
  CHECK_CONTAINS(refusal("9007199254740993"), "9007199254740992");
  CHECK_CONTAINS(refusal("1.00000000000000000001"), "cannot be represented exactly");
  CHECK_CONTAINS(refusal("1e400"), "number 1e400 cannot be represented exactly");
  CHECK_CONTAINS(refusal("-1e400"), "cannot be represented exactly");
  CHECK_CONTAINS(refusal("1e-400"), "cannot be represented exactly");
  CHECK_CONTAINS(refusal("1152921504606846976"), "1152921504606847000");
  CHECK_CONTAINS(refusal("18446744073709551615"), "cannot be represented exactly");
  CHECK_CONTAINS(refusal("-9223372036854775808"), "cannot be represented exactly");
  CHECK_CONTAINS(refusal("0.30000000000000001"), "cannot be represented exactly");
  CHECK_CONTAINS(refusal("333333333.33333329"), "333333333.3333333");
  const std::string nested = refusal(R"({"a": {"b": [1, 2, 9007199254740993]}})");
  CHECK_CONTAINS(nested, "/a/b/2");
  CHECK_CONTAINS(nested, "at byte 19");
  CHECK_CONTAINS(refusal(R"({"n": 1e999})"), "at byte 6");
}

// ---- strings and keys ------------------------------------------------------------------------

TEST_CASE("Strings are escaped minimally and everything else is literal UTF-8", "[core][json]") {
  std::string all_controls;
  for (int c = 1; c < 0x20; ++c) all_controls += static_cast<char>(c);
  CHECK(canonical(json(all_controls)) ==
        "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
        "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001"
        "c\\u001d"
        "\\u001e\\u001f\"");
  CHECK(canonical(json("q\"b\\s/")) == R"("q\"b\\s/")");
  CHECK(canonical(json("\x7f \xe2\x80\xa8 \xe2\x80\xa9 \xc2\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf")) ==
        "\"\x7f \xe2\x80\xa8 \xe2\x80\xa9 \xc2\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\"");
  CHECK(canon(R"("\u00e9\u20AC\ud83d\ude00\/\u0041")") == "\"é€😀/A\"");
  CHECK(canon(R"("\u001F\u007f")") == "\"\\u001f\x7f\"");
}

TEST_CASE("String escaping agrees with a byte-by-byte reference wherever the special byte sits",
          "[core][json]") {
  const std::string specials[] = {
      "\"", "\\", "\x01", "\x1f", "\n", "\x7f", "\xc3\xa9", "\xf0\x9f\x98\x80", "!", "#", "[", "]"};
  for (std::size_t length = 0; length < 40; ++length) {
    for (const std::string& special : specials) {
      for (std::size_t at = 0; at <= length; ++at) {
        std::string s(length, 'x');
        s.insert(at, special);
        std::string expected;
        reference_string(expected, s);
        std::string got;
        logline::write_canonical_string(got, s);
        INFO("length " << length << " at " << at);
        REQUIRE(got == expected);
      }
    }
  }
}

TEST_CASE("The writers append to what the string already holds, long strings included",
          "[core][json]") {
  std::string out = "prefix:";
  logline::write_canonical(out, json{{"b", 1}, {"a", json::array({2.5, "x"})}});
  CHECK(out == R"(prefix:{"a":[2.5,"x"],"b":1})");
  logline::write_canonical_string(out, "\n");
  logline::write_canonical_number(out, 1e21);
  CHECK(out == R"(prefix:{"a":[2.5,"x"],"b":1}"\n"1e+21)");

  std::string big;
  for (int i = 0; i < 20000; ++i)
    big += (i % 97 == 0) ? '\x01' : (i % 89 == 0) ? '"' : static_cast<char>('a' + i % 26);
  std::string expected;
  reference_string(expected, big);
  std::string got = "#";
  logline::write_canonical_string(got, big);
  CHECK(got == "#" + expected);
  CHECK(canonical(json::array({big, big})) == "[" + expected + "," + expected + "]");
}

TEST_CASE("Integral doubles are written as integers up to 2^53 and in ES6 form beyond",
          "[core][json]") {
  CHECK(number(2.0) == "2");
  CHECK(number(-7.0) == "-7");
  CHECK(number(1e15) == "1000000000000000");
  CHECK(number(9007199254740992.0) == "9007199254740992");
  CHECK(number(-9007199254740992.0) == "-9007199254740992");
  CHECK(number(9007199254740994.0) == "9007199254740994");
  CHECK(number(18014398509481988.0) == "18014398509481988");
  CHECK(number(1152921504606846976.0) == "1152921504606847000");
  CHECK(number(1e20) == "100000000000000000000");
}

TEST_CASE("Object members are sorted by UTF-16 code units as in RFC 8785 section 3.2.3",
          "[core][json]") {
  const std::string input = R"({
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis"
  })";
  CHECK(canon(input) ==
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
        "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
        "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With "
        "Dagesh\"}");
}

TEST_CASE("A key in U+E000..U+FFFF sorts after a supplementary-plane key, at every depth",
          "[core][json]") {
  json value = {{"\xee\x80\x80", 1}, {"\xf0\x90\x80\x80", 2}, {"a", 3}};
  CHECK(canonical(value) == "{\"a\":3,\"\xf0\x90\x80\x80\":2,\"\xee\x80\x80\":1}");
  json nested = {{"x", json::array({value, json{{"\xef\xbf\xbf", 0}, {"\xf4\x8f\xbf\xbf", 0}}})}};
  CHECK(canonical(nested) ==
        "{\"x\":[{\"a\":3,\"\xf0\x90\x80\x80\":2,\"\xee\x80\x80\":1},"
        "{\"\xf4\x8f\xbf\xbf\":0,\"\xef\xbf\xbf\":0}]}");
  // Without a supplementary key, UTF-8 byte order is UTF-16 order.
  CHECK(canonical(json{{"\xef\xbf\xbf", 1}, {"\xee\x80\x80", 2}, {"\xed\x9f\xbf", 3}}) ==
        "{\"\xed\x9f\xbf\":3,\"\xee\x80\x80\":2,\"\xef\xbf\xbf\":1}");
  // Shared prefixes and prefix keys.
  CHECK(canonical(json{
            {"k\xf0\x9f\x98\x80", 1}, {"k\xef\xbc\x81", 2}, {"k", 3}, {"k\xf0\x9f\x98\x80z", 4}}) ==
        "{\"k\":3,\"k\xf0\x9f\x98\x80\":1,\"k\xf0\x9f\x98\x80z\":4,\"k\xef\xbc\x81\":2}");
}

TEST_CASE("The RFC 8785 section 3.2.2 sample object canonicalizes to the RFC's output",
          "[core][json]") {
  const std::string expected =
      R"({"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"})";
  // The object as the RFC has it after parsing (doubles).
  json sample = {{"numbers", json::array({333333333.33333329, 1E30, 4.50, 2e-3,
                                          0.000000000000000000000000001})},
                 {"string", "\xe2\x82\xac$\x0f\nA'B\"\\\\\"/"},
                 {"literals", json::array({nullptr, true, false})}};
  REQUIRE(check_json(sample).has_value());
  CHECK(canonical(sample) == expected);

  // The RFC's input text: parse_json refuses 333333333.33333329 (its canonical form is
  // 333333333.3333333, a different decimal); the rest of the sample is accepted as written.
  const std::string rfc_text = R"({
    "numbers": [333333333.33333329, 1E30, 4.50,
                2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  })";
  const std::string message = refusal(rfc_text);
  CHECK_CONTAINS(message, "number 333333333.33333329 cannot be represented exactly");
  CHECK_CONTAINS(message, "/numbers/0");
  std::string exact_text = rfc_text;
  exact_text.replace(exact_text.find("333333333.33333329"), 18, "333333333.3333333");
  CHECK(canon(exact_text) == expected);
}

TEST_CASE("Canonical output agrees with cases from independent implementations", "[core][json]") {
  CHECK(
      canon(
          R"({"a": 0.1, "b": 1e+21, "c": 0, "d": 1e-07, "e": 123456789012, "f": 1.5, "g": -42, "h": 9007199254740991})") ==
      R"({"a":0.1,"b":1e+21,"c":0,"d":1e-7,"e":123456789012,"f":1.5,"g":-42,"h":9007199254740991})");
  CHECK(canon(R"({"é": 1, "e": 2, "€": 3, "😀": 4, "Z": 5, "a": 6})") ==
        R"({"Z":5,"a":6,"e":2,"é":1,"€":3,"😀":4})");
  CHECK(canon(R"({"z": {"b": [3, {"y": 1, "x": 2}], "a": null}, "a": [], "m": {}})") ==
        R"({"a":[],"m":{},"z":{"a":null,"b":[3,{"x":2,"y":1}]}})");
  CHECK(canon(R"("café ☕ 𝄞 \"q\" \\ \n\t\u0001\u001f")") ==
        R"("café ☕ 𝄞 \"q\" \\ \n\t\u0001\u001f")");
}

// ---- refusals --------------------------------------------------------------------------------

TEST_CASE("Invalid UTF-8 anywhere is refused with its byte offset", "[core][json]") {
  CHECK_CONTAINS(refusal("[\"\xc0\x80\"]"),
                 "invalid UTF-8 (overlong encoding: bytes C0 80) at byte 2");
  CHECK_CONTAINS(refusal("[\"\xe0\x80\xaf\"]"), "overlong encoding");
  CHECK_CONTAINS(refusal("[\"\xf0\x80\x80\xaf\"]"), "overlong encoding");
  CHECK_CONTAINS(refusal("{\"k\":\"\xed\xa0\x80\"}"),
                 "UTF-16 surrogate encoded in UTF-8: bytes ED A0 80) at byte 6");
  CHECK_CONTAINS(refusal("{\"k\":\"\xed\xa0\x80\"}"), "\"/k\"");
  CHECK_CONTAINS(refusal("[\"\xed\xbf\xbf\"]"), "surrogate");
  CHECK_CONTAINS(refusal("[\"\xf4\x90\x80\x80\"]"), "code point above U+10FFFF");
  CHECK_CONTAINS(refusal("[\"\xf5\x80\x80\x80\"]"), "invalid UTF-8");
  CHECK_CONTAINS(refusal("[\"\xff\"]"), "invalid UTF-8 (invalid byte: byte FF) at byte 2");
  CHECK_CONTAINS(refusal("[\"ab\xe2\x82\"]"), "truncated sequence: bytes E2 82) at byte 4");
  CHECK_CONTAINS(refusal("[\"\xf0\x9f\x98\"]"), "truncated sequence");
  CHECK_CONTAINS(refusal("[\"\x80\"]"), "unexpected continuation byte");
  CHECK_CONTAINS(refusal("\"\xe2\x82"), "truncated sequence");
  CHECK_CONTAINS(refusal("{\"\xc3\":1}"), "invalid UTF-8");
  CHECK_CONTAINS(refusal("[1, \xe2\x82\xac]"), "not JSON");  // valid UTF-8 outside a string
  CHECK_CONTAINS(refusal("[1, \xc0\x80]"), "invalid UTF-8");
}

TEST_CASE("Lone and mis-paired surrogate escapes are refused", "[core][json]") {
  CHECK_CONTAINS(refusal(R"("\ud800")"), "lone high surrogate escape \\ud800");
  CHECK_CONTAINS(refusal(R"("\ud800")"), "at byte 1");
  CHECK_CONTAINS(refusal(R"("\udc00")"), "lone low surrogate escape \\udc00");
  CHECK_CONTAINS(refusal(R"({"a": ["x\ud800\u0041"]})"), "lone high surrogate escape \\ud800");
  CHECK_CONTAINS(refusal(R"({"a": ["x\ud800\u0041"]})"), "at byte 9 (JSON pointer \"/a/0\")");
  CHECK_CONTAINS(refusal(R"("\ud800\ud800")"), "lone high surrogate");
  CHECK_CONTAINS(refusal(R"("\ude00\ud83d")"), "lone low surrogate");
  CHECK_CONTAINS(refusal(R"({"\uDBFF": 1})"), "lone high surrogate escape \\uDBFF");
  CHECK_CONTAINS(refusal(R"("\\\udc00")"), "at byte 3");
}

TEST_CASE("U+0000 is refused in strings and keys, escaped or raw", "[core][json]") {
  CHECK_CONTAINS(refusal(R"("\u0000")"), "string \"\\u0000\" contains U+0000");
  CHECK_CONTAINS(refusal(R"(["ok", "a\u0000b"])"), "at byte 7 (JSON pointer \"/1\")");
  CHECK_CONTAINS(refusal(R"({"a\u0000": 1})"), "key \"a\\u0000\" contains U+0000");
  CHECK_CONTAINS(refusal(std::string_view("[\"a\0\"]", 6)), "U+0000");
  CHECK_CONTAINS(refusal(std::string_view("[\"a\0\"]", 6)), "at byte 3");
  CHECK_CONTAINS(refusal(std::string_view("{\"\0\":1}", 7)), "U+0000");
  CHECK_CONTAINS(refusal(std::string_view("[1,\0]", 5)), "U+0000");
  CHECK_CONTAINS(refusal(std::string_view("[1]\0", 4)), "U+0000");
}

TEST_CASE("Duplicate keys are refused at any depth, naming the key and its place", "[core][json]") {
  const std::string top = refusal(R"({"a": 1, "b": 2, "a": 3})");
  CHECK_CONTAINS(top, "duplicate key \"a\" at byte 17 (JSON pointer \"/a\")");
  const std::string nested = refusal(R"({"x": {"y": [1, {"k": 1, "k": 2}]}})");
  CHECK_CONTAINS(nested, "duplicate key \"k\"");
  CHECK_CONTAINS(nested, "/x/y/1/k");
  // Keys that are equal once their escapes are decoded are duplicates too.
  CHECK_CONTAINS(refusal(R"({"é": 1, "\u00e9": 2})"), "duplicate key \"é\"");
  CHECK_CONTAINS(refusal(R"({"a/b~": {}, "a/b~": {}})"), "\"/a~1b~0\"");
  // The same key in different objects is fine.
  CHECK(canon(R"({"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]})") ==
        R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]})");
}

TEST_CASE("Nesting deeper than max_depth is refused without deep recursion", "[core][json]") {
  const auto nest = [](std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  CHECK(canon(nest(64)) == nest(64));
  CHECK_CONTAINS(refusal(nest(65)), "nesting deeper than the limit of 64 levels at byte 64");
  CHECK_CONTAINS(refusal(std::string(1'000'000, '[')), "nesting deeper than the limit of 64");
  CHECK_CONTAINS(refusal(R"({"a": {"b": [1]}})", 2),
                 "nesting deeper than the limit of 2 levels at byte 12 (JSON pointer \"/a/b\")");
  CHECK(parse_json(R"({"a": {"b": 1}})", 2).has_value());
  CHECK(parse_json("1", 0).has_value());
  CHECK_CONTAINS(refusal("[]", 0), "nesting deeper");
}

TEST_CASE("Text that is not one JSON value is refused", "[core][json]") {
  CHECK_CONTAINS(refusal(""), "empty input");
  CHECK_CONTAINS(refusal(" \n\t "), "empty input");
  CHECK_CONTAINS(refusal("[1] x"), "unexpected characters after the JSON value at byte 4");
  CHECK_CONTAINS(refusal("{} {}"), "unexpected characters after the JSON value at byte 3");
  CHECK_CONTAINS(refusal("1 2"), "unexpected characters after the JSON value");
  CHECK_CONTAINS(refusal("\xef\xbb\xbf{}"), "byte order mark");
  CHECK_CONTAINS(refusal("[1, 2"), "not JSON");
  CHECK_CONTAINS(refusal("[1,]"), "at byte 3");
  CHECK_CONTAINS(refusal(R"({"a": tru})"), "not JSON");
  CHECK_CONTAINS(refusal(R"({"a" 1})"), "not JSON");
  CHECK_CONTAINS(refusal("{'a': 1}"), "not JSON");
  CHECK_CONTAINS(refusal("[01]"), "not JSON");
  CHECK_CONTAINS(refusal("[NaN]"), "not JSON");
  CHECK_CONTAINS(refusal("[1] // comment"), "unexpected characters");
  CHECK_CONTAINS(refusal("\"tab\there\""), "not JSON");
  CHECK_CONTAINS(refusal("[\"\\x41\"]"), "not JSON");
}

TEST_CASE("Refusal messages are valid UTF-8 and do not echo raw input bytes", "[core][json]") {
  for (const std::string_view text :
       {std::string_view("[\"\xc0\x80\"]"), std::string_view("[1, \xff\xfe]"),
        std::string_view("{\"\xff\":1,\"\xff\":2}"), std::string_view("[1,\0 \xc3]", 7),
        std::string_view("{\"a\\u0000\xe2\x82\xac\": 0}")}) {
    const std::string message = refusal(text);
    CHECK(logline::is_valid_utf8(message));
    CHECK(message.find('\0') == std::string::npos);
  }
}

TEST_CASE("Valid edge cases are accepted", "[core][json]") {
  CHECK(canon("{}") == "{}");
  CHECK(canon("[]") == "[]");
  CHECK(canon(" [ { } , [ [ ] ] , { \"a\" : { } } ] ") == R"([{},[[]],{"a":{}}])");
  CHECK(canon(R"({"a": null, "b": [null]})") == R"({"a":null,"b":[null]})");
  CHECK(canon("null") == "null");
  CHECK(canon("true") == "true");
  CHECK(canon("\"\"") == "\"\"");
  CHECK(canon("\"\xf4\x8f\xbf\xbf\"") == "\"\xf4\x8f\xbf\xbf\"");
  CHECK(canon(R"("\udbff\udfff")") == "\"\xf4\x8f\xbf\xbf\"");
  CHECK(canon(R"("\ud800\udc00")") == "\"\xf0\x90\x80\x80\"");
  CHECK(canon(R"({"\ud83d\ude00": "\uD83D\uDE00"})") ==
        "{\"\xf0\x9f\x98\x80\":\"\xf0\x9f\x98\x80\"}");
  CHECK(canon("\"\xef\xbf\xbf\xef\xbb\xbf\"") ==
        "\"\xef\xbf\xbf\xef\xbb\xbf\"");  // U+FFFF, U+FEFF inside a string
  CHECK(canon(" \t\r\n{\"n\" :-0 }\r\n") == R"({"n":0})");
  auto parsed = parse_json(R"({"a": null})");
  REQUIRE(parsed.has_value());
  CHECK(parsed->contains("a"));
  CHECK((*parsed)["a"].is_null());
}

// ---- check_json ------------------------------------------------------------------------------

TEST_CASE("check_json refuses values built in code that have no exact canonical form",
          "[core][json]") {
  CHECK_CONTAINS(check_refusal(json{{"x", std::nan("")}}), "NaN");
  CHECK_CONTAINS(check_refusal(json{{"x", std::nan("")}}), "\"/x\"");
  CHECK_CONTAINS(check_refusal(json::array({1, std::numeric_limits<double>::infinity()})),
                 "infinite");
  CHECK_CONTAINS(check_refusal(json(-std::numeric_limits<double>::infinity())), "infinite");
  CHECK_CONTAINS(check_refusal(json{{"n", std::uint64_t{1} << 60}}),
                 "1152921504606846976 cannot be represented exactly");
  CHECK_CONTAINS(check_refusal(json(std::int64_t{9007199254740993})),
                 "cannot be represented exactly");
  CHECK_CONTAINS(check_refusal(json(std::numeric_limits<std::uint64_t>::max())),
                 "cannot be represented exactly");
  CHECK_CONTAINS(check_refusal(json(std::numeric_limits<std::int64_t>::min())),
                 "cannot be represented exactly");
  CHECK_CONTAINS(check_refusal(json{{"s", std::string("a\0b", 3)}}), "contains U+0000");
  CHECK_CONTAINS(check_refusal(json{{std::string("k\0", 2), 1}}),
                 "key \"k\\u0000\" contains U+0000");
  CHECK_CONTAINS(check_refusal(json{{"a", json::array({"ok", "\xed\xa0\x80"})}}),
                 "not valid UTF-8");
  CHECK_CONTAINS(check_refusal(json{{"a", json::array({"ok", "\xed\xa0\x80"})}}), "\"/a/1\"");
  CHECK_CONTAINS(check_refusal(json{{"\xc0\xaf", 1}}),
                 "key \"\\xc0\\xaf\" is not valid UTF-8 (overlong encoding");
  CHECK_CONTAINS(check_refusal(json::binary({1, 2, 3})), "binary");
  json deep = 1;
  for (int i = 0; i < 65; ++i) deep = json::array({std::move(deep)});
  CHECK_CONTAINS(check_refusal(deep), "nesting deeper than the limit of 64 levels");
  CHECK(check_json(deep, 65).has_value());
}

TEST_CASE("check_json accepts finite doubles, exact integers and valid strings", "[core][json]") {
  json value = {{"d", 0.1},
                {"big", 1e300},
                {"tiny", 5e-324},
                {"i", std::int64_t{9007199254740992}},
                {"u", std::uint64_t{100000000000000000}},
                {"neg", std::int64_t{-9007199254740992}},
                {"s", "\xf4\x8f\xbf\xbf \x7f \xe2\x80\xa8"},
                {"n", nullptr},
                {"a", json::array({json::object(), json::array()})}};
  CHECK(check_json(value).has_value());
  CHECK(canonical(value) ==
        "{\"a\":[{},[]],\"big\":1e+300,\"d\":0.1,\"i\":9007199254740992,\"n\":null,\"neg\":-"
        "9007199254740992,"
        "\"s\":\"\xf4\x8f\xbf\xbf \x7f \xe2\x80\xa8\",\"tiny\":5e-324,\"u\":100000000000000000}");
}

TEST_CASE("is_valid_utf8 is strict", "[core][json]") {
  CHECK(logline::is_valid_utf8(""));
  CHECK(logline::is_valid_utf8("plain ascii that is longer than eight bytes"));
  CHECK(
      logline::is_valid_utf8("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0"
                             "\x90\x80\x80\xf4\x8f\xbf\xbf"));
  CHECK(logline::is_valid_utf8(
      std::string_view("\0", 1)));  // UTF-8 allows it; the JSON rules refuse it
  for (const char* bad :
       {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8", "\xfe", "\xff", "\xc2",
        "\xe2\x82", "\xf0\x9f\x98", "\xc2\x41", "abcdefgh\xe2\x82", "\xe2\x28\xa1"}) {
    INFO("bytes: " << bad);
    CHECK_FALSE(logline::is_valid_utf8(bad));
  }
}

// ---- property --------------------------------------------------------------------------------

TEST_CASE("Random documents round-trip: parse of any spelling gives the reference canonical form",
          "[core][json][property]") {
  generator gen(0x5eed'1e61'0000'0001ULL);
  for (int round = 0; round < 1500; ++round) {
    const json original = gen.value(0);
    REQUIRE(check_json(original).has_value());
    const std::string expected = reference_canonical(original);
    std::string spelled;
    gen.spell(spelled, original);
    INFO("round " << round << "\nspelled: " << spelled << "\nexpected: " << expected);

    auto parsed = parse_json(spelled);
    INFO("error: " << (parsed ? std::string() : parsed.error().message()));
    REQUIRE(parsed.has_value());
    REQUIRE(check_json(*parsed).has_value());
    const std::string once = canonical(*parsed);
    CHECK(once == expected);
    CHECK(canonical(original) == expected);

    auto again = parse_json(once);
    REQUIRE(again.has_value());
    CHECK(canonical(*again) == once);
    CHECK(*again == *parsed);

    // nlohmann's own dump, for documents without non-integral doubles (its Grisu2 output is not
    // always the shortest form, see below): pretty or compact, ASCII-escaped or not.
    const bool has_double = original.dump().find_first_of(".eE") != std::string::npos;
    if (!has_double) {
      const std::string dumped =
          original.dump(static_cast<int>(gen.below(3)) - 1, ' ', gen.below(2) == 0);
      auto from_dump = parse_json(dumped);
      INFO("dumped: " << dumped);
      REQUIRE(from_dump.has_value());
      CHECK(canonical(*from_dump) == expected);
    }
  }
}

TEST_CASE("nlohmann's dump() of some doubles is not their shortest form and is refused",
          "[core][json]") {
  // Documented consequence of the number rule: serialize with logline::canonical, not dump().
  const json value = 8e126;
  CHECK(canonical(value) == "8e+126");
  const std::string dumped = value.dump();
  if (dumped != "8e+126") CHECK_CONTAINS(refusal(dumped), "cannot be represented exactly");
  CHECK(canon(canonical(value)) == "8e+126");
}

TEST_CASE("UTF-16 key order agrees with a std::u16string reference on random keys",
          "[core][json][property]") {
  generator gen(7);
  for (int round = 0; round < 300; ++round) {
    // Short keys from a mix of ranges, many sharing a prefix.
    const std::string prefix = gen.text(2);
    std::vector<std::string> keys;
    for (int i = 0; i < 12; ++i)
      keys.push_back(gen.below(2) ? prefix + gen.text(3) : gen.text(gen.below(3) ? 3 : 20));
    std::vector<std::string> by_writer = keys;
    std::sort(by_writer.begin(), by_writer.end(), logline::detail::utf16_less);
    std::vector<std::string> by_reference = keys;
    std::sort(by_reference.begin(), by_reference.end(),
              [](const std::string& a, const std::string& b) { return to_utf16(a) < to_utf16(b); });
    CHECK(by_writer == by_reference);

    json object = json::object();
    for (std::size_t i = 0; i < keys.size(); ++i) object[keys[i]] = i;
    CHECK(canonical(object) == reference_canonical(object));
  }
}
