import NIOCore
import NIOSSL
public import Transport

/// An HTTPS server on loopback presenting a chosen certificate (an ingress, for `--probe`).
public enum TLSTestServer {
    public static func start(
        certificateChainPEM: String,
        keyPEM: String,
        port: Int = 0,
        handler: @escaping HTTPServer.Handler = { _ in
            ServerResponse(status: 200, contentType: "text/plain", text: "ingress\n")
        }
    ) async throws -> HTTPServer {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateChainPEM.utf8)).map {
            NIOSSLCertificateSource.certificate($0)
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain,
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
        )
        let context = try NIOSSLContext(configuration: configuration)
        return try await HTTPServer.start(
            host: "127.0.0.1",
            port: port,
            configure: { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                }
            },
            handler: handler
        )
    }
}
