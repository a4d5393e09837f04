/** The dashboard's addresses. The mails' links are real pages: `/invitations/accept?code=`,
 * `/reset-password?code=`, `/orgs/<org>/runs/<id>` and `/orgs/<org>/connections/<id>`.
 * Each page is its own chunk, loaded when it is first opened. */
import { lazy, Suspense, type ComponentType, type LazyExoticComponent } from "react";
import { createBrowserRouter, Navigate } from "react-router-dom";

import { Loading, NotFound } from "./components/common";
import { Home, OrgGate, RequireSignIn } from "./layout/Shell";

function page(load: () => Promise<{ default: ComponentType }>) {
  const Page: LazyExoticComponent<ComponentType> = lazy(load);
  return (
    <Suspense fallback={<Loading />}>
      <Page />
    </Suspense>
  );
}

export const router = createBrowserRouter([
  { path: "/login", element: page(() => import("./pages/SignIn")) },
  { path: "/forgot-password", element: page(() => import("./pages/ForgotPassword")) },
  { path: "/reset-password", element: page(() => import("./pages/ResetPassword")) },
  { path: "/invitations/accept", element: page(() => import("./pages/AcceptInvitation")) },
  { path: "/accept-invitation", element: page(() => import("./pages/AcceptInvitation")) },
  {
    element: <RequireSignIn />,
    children: [
      { path: "/", element: <Home /> },
      { path: "/notifications", element: page(() => import("./pages/Notifications")) },
      {
        path: "/orgs/:org",
        element: <OrgGate />,
        children: [
          { index: true, element: page(() => import("./pages/Overview")) },
          { path: "pipelines", element: page(() => import("./pages/Pipelines")) },
          { path: "pipelines/new", element: page(() => import("./pages/PipelineEdit")) },
          { path: "pipelines/:pipelineId", element: page(() => import("./pages/PipelineEdit")) },
          { path: "runs", element: page(() => import("./pages/Runs")) },
          { path: "runs/:runId", element: page(() => import("./pages/RunDetail")) },
          { path: "sources", element: page(() => import("./pages/Sources")) },
          { path: "sources/new", element: page(() => import("./pages/SourceEdit")) },
          { path: "sources/:sourceId", element: page(() => import("./pages/SourceEdit")) },
          { path: "connections", element: page(() => import("./pages/Connections")) },
          { path: "connections/new", element: page(() => import("./pages/ConnectionEdit")) },
          { path: "connections/:connectionId", element: page(() => import("./pages/ConnectionEdit")) },
          { path: "warehouse", element: page(() => import("./pages/Warehouse")) },
          { path: "transform", element: page(() => import("./pages/Transform")) },
          { path: "transform/docs", element: page(() => import("./pages/DbtDocs")) },
          { path: "members", element: page(() => import("./pages/Members")) },
          { path: "*", element: <NotFound /> },
        ],
      },
      { path: "/orgs", element: <Navigate to="/" replace /> },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
