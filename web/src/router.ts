import { createRouter, createWebHistory } from "vue-router";
import { session } from "./session";

export const router = createRouter({
  history: createWebHistory("/console/"),
  routes: [
    { path: "/", redirect: "/dashboard" },
    { path: "/signin", component: () => import("./pages/SignIn.vue"), meta: { public: true } },
    { path: "/dashboard", component: () => import("./pages/Dashboard.vue") },
    { path: "/tree", component: () => import("./pages/Tree.vue") },
    { path: "/packages", component: () => import("./pages/Packages.vue") },
    { path: "/releases", component: () => import("./pages/Releases.vue") },
    { path: "/releases/new", component: () => import("./pages/ReleaseNew.vue") },
    { path: "/releases/:id", component: () => import("./pages/ReleaseDetail.vue"), props: true },
    { path: "/tasks", component: () => import("./pages/Tasks.vue") },
    { path: "/tasks/:id", component: () => import("./pages/TaskDetail.vue"), props: true },
    { path: "/node-configs", component: () => import("./pages/NodeConfigs.vue") },
    { path: "/audit", component: () => import("./pages/Audit.vue") },
    { path: "/licenses", component: () => import("./pages/Licenses.vue") },
    { path: "/configs", component: () => import("./pages/Configs.vue") },
    { path: "/storage", component: () => import("./pages/Storage.vue"), meta: { sysadmin: true } },
    { path: "/tokens", component: () => import("./pages/Tokens.vue"), meta: { sysadmin: true } },
    { path: "/:rest(.*)*", redirect: "/dashboard" },
  ],
});

router.beforeEach((to) => {
  if (!to.meta.public && !session.token) return { path: "/signin", query: { next: to.fullPath } };
  return true;
});
