// s3rver in a process of its own for the benchmarks, as a storage server is in production: its
// work (MD5 of every byte, file writes, composing multipart uploads) then does not share the API's
// thread. Prints nothing; sends { port } to the parent once listening.
const S3rver = require('s3rver');

new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2] })
  .run()
  .then(({ port }) => process.send({ port }));
