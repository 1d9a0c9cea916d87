//! An S3-protocol server on loopback for the checkpoint store's tests: `s3s` over `s3s-fs`'s
//! file-system backend, in a thread of the test. `s3s-fs` checks `If-Match` and
//! `If-None-Match` but not atomically (two puts can both pass the check before either
//! writes), so puts here take turns: a conditional put checks and writes as one step, as a
//! real store's does.

use std::path::{Path, PathBuf};

use s3s::dto::{
    CopyObjectInput, CopyObjectOutput, DeleteObjectInput, DeleteObjectOutput, GetObjectInput,
    GetObjectOutput, HeadObjectInput, HeadObjectOutput, ListObjectsV2Input, ListObjectsV2Output,
    PutObjectInput, PutObjectOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result};

use super::{TempDir, free_port};

pub const BUCKET: &str = "city-state";
const ACCESS_KEY: &str = "modeshare-test";
const SECRET_KEY: &str = "modeshare-test-secret";

/// The server; it stops with its runtime when dropped.
pub struct S3Server {
    pub endpoint: String,
    root: TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = TempDir::new("s3");
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        let backend = TurnTaking {
            inner: s3s_fs::FileSystem::new(root.path()).unwrap(),
            puts: tokio::sync::Mutex::new(()),
        };
        let mut builder = s3s::service::S3ServiceBuilder::new(backend);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let port = free_port();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .unwrap();
        runtime.spawn(async move {
            let http =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let connection = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(connection);
            }
        });
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            _runtime: runtime,
        }
    }

    /// The environment that puts a service's checkpoints under `prefix` in this store.
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        [
            ("MODESHARE__STATE__URL", format!("s3://{BUCKET}/{prefix}")),
            (
                "MODESHARE__STATE__OPTIONS__AWS_ENDPOINT",
                self.endpoint.clone(),
            ),
            ("MODESHARE__STATE__OPTIONS__AWS_ALLOW_HTTP", "true".into()),
            ("MODESHARE__STATE__OPTIONS__AWS_REGION", "eu-north-1".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The file the server keeps an object's bytes in.
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

/// `s3s-fs` with puts taking turns.
struct TurnTaking {
    inner: s3s_fs::FileSystem,
    puts: tokio::sync::Mutex<()>,
}

#[async_trait::async_trait]
impl S3 for TurnTaking {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let _turn = self.puts.lock().await;
        self.inner.put_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.inner.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let _turn = self.puts.lock().await;
        self.inner.delete_object(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let _turn = self.puts.lock().await;
        self.inner.copy_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.inner.list_objects_v2(req).await
    }
}
