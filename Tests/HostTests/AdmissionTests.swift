import Config
import Host
import Secure
import XCTest

/// Who a host's configuration admits, and the error a broken password setting gives.
final class AdmissionTests: XCTestCase {
    func testTheVerifierMshostPasswdWroteIsTheOneReceiversProveAgainst() throws {
        let written = try PasswordVerifier(password: "correct horse", iterations: 1_000)
        var sharing = SharingSettings()
        sharing.password = .verifier(written.description)
        let admission = try Admission(sharing: sharing)
        XCTAssertEqual(admission.password?.description, written.description)
        XCTAssertNoThrow(try Admission.check(sharing))
    }

    func testAVerifierThatIsNotOneStopsTheHostNamingTheKey() {
        var sharing = SharingSettings()
        sharing.password = .verifier("spake2+p256:1000:00:00:00")
        XCTAssertThrowsError(try Admission(sharing: sharing)) { error in
            XCTAssertEqual(error as? AdmissionError, .notAVerifier)
            XCTAssertTrue("\(error)".hasPrefix("sharing.password_verifier: "), "\(error)")
        }
        XCTAssertThrowsError(try Admission.check(sharing))
    }

    func testAPlaintextPasswordIsDerivedAtStartButNotByTheCheck() throws {
        var sharing = SharingSettings()
        sharing.password = .plaintext("correct horse")
        XCTAssertNoThrow(try Admission.check(sharing))
        let derived = try XCTUnwrap(try Admission(sharing: sharing).password)
        XCTAssertEqual(derived.iterations, PasswordVerifier.defaultIterations)
    }

    func testWithoutAPasswordOnlyListedCertificatesAreSingledOut() throws {
        var sharing = SharingSettings()
        let fingerprint = String(repeating: "ab:", count: 31) + "ab"
        sharing.allowedClients = [fingerprint]
        let admission = try Admission(sharing: sharing)
        XCTAssertNil(admission.password)
        XCTAssertEqual(admission.allowedClients.map(\.description), [fingerprint])
    }
}
