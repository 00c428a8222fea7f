//! Job decoding: any bytes from the queue give a job or an error, never a
//! panic; and what decodes re-encodes to the same job.

#![no_main]

use libfuzzer_sys::fuzz_target;
use purgehook::job::Job;

fuzz_target!(|data: &[u8]| {
    if let Ok(job) = Job::from_bytes(data) {
        let bytes = job.to_bytes().expect("a decoded job encodes");
        let again = Job::from_bytes(&bytes).expect("an encoded job decodes");
        assert_eq!(again, job);
    }
});
