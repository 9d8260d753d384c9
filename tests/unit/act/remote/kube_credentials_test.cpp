// Credentials (kube_credentials.cpp): kubeconfig contexts, inline and file PEMs, refusals of insecure and
// plugin users, and in-cluster service-account files under a fixture root.

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "act/kube/kube_credentials.hpp"
#include "unit/act/remote/remote_fixture.hpp"

namespace joulepilot::act::kube {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using test::fixtures;

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(Kubeconfig, CurrentContextWithTokenAndCaFile) {
    const auto c = load_kubeconfig(fixtures() / "kubeconfig_token.yaml");
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->server, "https://lab.example.invalid:6443");
    EXPECT_EQ(c->token, "test-token-123");
    EXPECT_EQ(c->default_namespace, "batch-jobs");
    EXPECT_EQ(c->ca_pem, slurp(fixtures() / "ca.crt"));
    EXPECT_TRUE(c->client_cert_pem.empty());
    EXPECT_THAT(c->source, HasSubstr("context lab"));
}

TEST(Kubeconfig, NamedContextWithInlineClientCertificate) {
    const auto c = load_kubeconfig(fixtures() / "kubeconfig_token.yaml", "other");
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->server, "https://other.example.invalid:443");
    EXPECT_EQ(c->ca_pem, slurp(fixtures() / "ca.crt"));  // from base64 certificate-authority-data
    EXPECT_EQ(c->client_cert_pem, slurp(fixtures() / "client.crt"));
    EXPECT_EQ(c->client_key_pem, slurp(fixtures() / "client.key"));
    EXPECT_TRUE(c->token.empty());
    EXPECT_EQ(c->default_namespace, "default");
}

TEST(Kubeconfig, ClientCertificateFilesRelativeToTheKubeconfig) {
    const auto c = load_kubeconfig(fixtures() / "kubeconfig_certfiles.yaml");
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_THAT(c->client_cert_pem, HasSubstr("BEGIN CERTIFICATE"));
    EXPECT_THAT(c->client_key_pem, HasSubstr("PRIVATE KEY"));
}

TEST(Kubeconfig, UnknownContextIsNamed) {
    const auto c = load_kubeconfig(fixtures() / "kubeconfig_token.yaml", "staging");
    ASSERT_FALSE(c.has_value());
    EXPECT_THAT(c.error().message, AllOf(HasSubstr("kubeconfig_token.yaml"), HasSubstr("'staging'")));
}

TEST(Kubeconfig, InsecureSkipTlsVerifyIsRefused) {
    const auto c = load_kubeconfig(fixtures() / "kubeconfig_insecure.yaml");
    ASSERT_FALSE(c.has_value());
    EXPECT_THAT(c.error().message, AllOf(HasSubstr("insecure-skip-tls-verify"), HasSubstr("certificate-authority")));
}

TEST(Kubeconfig, ExecPluginIsRefusedWithAHint) {
    const auto c = load_kubeconfig(fixtures() / "kubeconfig_exec.yaml");
    ASSERT_FALSE(c.has_value());
    EXPECT_THAT(c.error().message, AllOf(HasSubstr("user 'u'"), HasSubstr("exec"), HasSubstr("token")));
}

TEST(Kubeconfig, MissingClusterIsNamed) {
    const auto c = load_kubeconfig(fixtures() / "kubeconfig_missing_cluster.yaml");
    ASSERT_FALSE(c.has_value());
    EXPECT_THAT(c.error().message, AllOf(HasSubstr("'nowhere'"), HasSubstr("clusters")));
}

TEST(Kubeconfig, BadYamlAndBadShapesAreErrorsNotExceptions) {
    EXPECT_FALSE(parse_kubeconfig("clusters: [unclosed", "bad.yaml").has_value());
    EXPECT_FALSE(parse_kubeconfig("- a list", "bad.yaml").has_value());
    const auto shape = parse_kubeconfig(
        "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: 3\n",
        "shape.yaml");
    ASSERT_FALSE(shape.has_value());
    EXPECT_THAT(shape.error().message, HasSubstr("shape.yaml"));
    const auto b64 = parse_kubeconfig(
        "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: "
        "{server: 'https://a', certificate-authority-data: '%%%'}\n",
        "b64.yaml");
    ASSERT_FALSE(b64.has_value());
    EXPECT_THAT(b64.error().message, HasSubstr("base64"));
    EXPECT_THAT(load_kubeconfig(fixtures() / "absent.yaml").error().message, HasSubstr("cannot read"));
}

TEST(InCluster, ReadsServiceAccountFilesUnderTheRoot) {
    const auto c = load_in_cluster(fixtures() / "incluster", "10.96.0.1", "443");
    ASSERT_TRUE(c.has_value()) << c.error().message;
    EXPECT_EQ(c->server, "https://10.96.0.1:443");
    EXPECT_EQ(c->default_namespace, "joulepilot-system");
    EXPECT_EQ(c->ca_pem, slurp(fixtures() / "ca.crt"));
    EXPECT_EQ(c->token_file.filename(), "token");
    EXPECT_TRUE(c->token.empty());  // read per request: the kubelet rotates it
    EXPECT_EQ(load_in_cluster(fixtures() / "incluster", "fd00::1", "6443")->server, "https://[fd00::1]:6443");
}

TEST(InCluster, OutsideAPodSaysSo) {
    EXPECT_THAT(load_in_cluster(fixtures() / "incluster", "", "").error().message,
                HasSubstr("KUBERNETES_SERVICE_HOST"));
    EXPECT_THAT(load_in_cluster(fixtures() / "nothing", "10.0.0.1", "443").error().message,
                AllOf(HasSubstr("token"), HasSubstr("automountServiceAccountToken")));
}

}  // namespace
}  // namespace joulepilot::act::kube
