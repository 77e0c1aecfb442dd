#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(feature = "openai")]
pub mod batch;
pub mod choice;
pub mod cli;
pub mod context;
pub mod error;
pub mod items;
pub mod models;
pub mod progress;
pub mod run;
pub mod stage;
pub mod status;
pub mod study;
pub mod testing;

#[cfg(feature = "openai")]
pub use batch::{batch_export, batch_import, ExportedFile, ImportedFile};
pub use choice::{
    with_system, AnswerMode, Picked, TwoWayAnswer, TwoWayQuestion, TEXT_ANSWER_TOKENS,
};
#[cfg(all(feature = "clap", feature = "openai"))]
pub use cli::{batch_command, BatchCommand};
pub use cli::{json_main, read_config, to_json};
#[cfg(feature = "clap")]
pub use cli::{run_command, ModelFlags, RunFlags};
pub use context::ContextCheck;
pub use error::{BoxError, Error, Result};
pub use items::{draw_balanced, Draw, Item, ItemFile};
pub use models::{Calls, Model, Models};
pub use progress::progress;
pub use run::{
    config_difference, runtime, ResolvedModel, ResolvedModels, Run, RunLock, StudyConfig,
};
pub use stage::{Stage, StageSummary};
pub use status::{status, PlannedJob, StagePlan, StageStatus, Status};
pub use study::{dry_run, resume, run_status, start, Finished, ModelRoles, Study, Unparseable};

/// `docs/architecture.md`, compiled as a doc test (its study skeleton must build).
#[cfg(doctest)]
#[doc = include_str!("../../../docs/architecture.md")]
pub struct ArchitectureDoc;
